#include "dist/process_group.h"

#include <chrono>
#include <cstdlib>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>
#ifdef LTH_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "core/error.h"
#include "core/torch_compat.h"
#include "core/log.h"

namespace lth::dist {
namespace {

using Clock = std::chrono::steady_clock;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

int env_int(const char* name, const std::string& value) {
  try {
    size_t used = 0;
    const int n = std::stoi(value, &used);
    if (used == value.size()) return n;
  } catch (const std::exception&) {
  }
  LTH_FAIL(UsageError, "{}: expected an integer, got '{}'", name, value);
}

bool is_loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1"; }

class C10dGroup : public train::Dist {
 public:
  C10dGroup(c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<compat::C10dBackend> group, int rank, int world,
            std::string backend, bool cuda_only)
      : store_(std::move(store)), group_(std::move(group)), rank_(rank), world_(world), backend_(std::move(backend)),
        cuda_only_(cuda_only) {}

  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  std::string backend() const override { return backend_; }

  void broadcast(at::Tensor& tensor, int root) override {
    run("broadcast", [&] {
      std::vector<at::Tensor> list{on_backend(tensor)};
      c10d::BroadcastOptions options;
      options.rootRank = root;
      group_->broadcast(list, options)->wait();
      back(list[0], tensor);
    });
  }

  void all_reduce_sum(std::vector<at::Tensor>& tensors) override {
    run("all_reduce", [&] {
      std::vector<std::vector<at::Tensor>> lists;
      std::vector<c10::intrusive_ptr<c10d::Work>> works;
      lists.reserve(tensors.size());
      for (auto& t : tensors) {
        lists.push_back({on_backend(t)});
        works.push_back(group_->allreduce(lists.back()));
      }
      for (auto& w : works) w->wait();
      for (size_t i = 0; i < tensors.size(); ++i) back(lists[i][0], tensors[i]);
    });
  }

  std::vector<at::Tensor> all_gather(const at::Tensor& tensor) override {
    std::vector<at::Tensor> out;
    run("all_gather", [&] {
      std::vector<at::Tensor> input{on_backend(tensor.contiguous())};
      std::vector<std::vector<at::Tensor>> output(1);
      for (int r = 0; r < world_; ++r) output[0].push_back(torch::empty_like(input[0]));
      group_->allgather(output, input)->wait();
      for (auto& t : output[0]) out.push_back(t.to(tensor.device()));
    });
    return out;
  }

  void barrier() override {
    run("barrier", [&] { group_->barrier()->wait(); });
  }

 private:
  // NCCL only takes CUDA tensors: small CPU tensors (flags, strings) travel through the GPU.
  at::Tensor on_backend(const at::Tensor& t) const {
    LTH_CHECK(t.is_contiguous(), ShapeError, "collective on a non-contiguous tensor");
    if (cuda_only_ && !t.is_cuda()) return t.to(torch::Device(torch::kCUDA, device_index_));
    return t;
  }
  static void back(const at::Tensor& used, at::Tensor& original) {
    if (!used.is_same(original)) original.copy_(used);
  }

  template <typename Fn>
  void run(const char* what, Fn&& fn) {
    const auto start = Clock::now();
    try {
      fn();
    } catch (const c10::Error& e) {
      LTH_FAIL(Error, "rank {}: {} failed (did another worker die?): {}", rank_, what, e.what_without_backtrace());
    } catch (const std::exception& e) {
      LTH_FAIL(Error, "rank {}: {} failed (did another worker die?): {}", rank_, what, e.what());
    }
    comm_seconds_ += std::chrono::duration<double>(Clock::now() - start).count();
  }

 public:
  int device_index_ = 0;

 private:
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<compat::C10dBackend> group_;
  int rank_, world_;
  std::string backend_;
  bool cuda_only_;
};

}  // namespace

bool have_nccl() {
#ifdef LTH_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

std::shared_ptr<train::Dist> init_process_group(const DistOptions& options, std::string& device) {
  // Where the rendezvous is: --dist-init tcp://HOST:PORT, else MASTER_ADDR/MASTER_PORT.
  std::string host = env("MASTER_ADDR"), port_text = env("MASTER_PORT");
  if (!options.init.empty() && options.init != "env://") {
    const std::string prefix = "tcp://";
    LTH_CHECK(options.init.rfind(prefix, 0) == 0, UsageError, "--dist-init: expected tcp://HOST:PORT or env://, got '{}'",
              options.init);
    const std::string rest = options.init.substr(prefix.size());
    const auto colon = rest.rfind(':');
    LTH_CHECK(colon != std::string::npos && colon > 0, UsageError, "--dist-init: no port in '{}'", options.init);
    host = rest.substr(0, colon);
    port_text = rest.substr(colon + 1);
  }
  const int world = options.world_size >= 0 ? options.world_size
                                            : (env("WORLD_SIZE").empty() ? 1 : env_int("WORLD_SIZE", env("WORLD_SIZE")));
  const int rank = options.rank >= 0 ? options.rank : (env("RANK").empty() ? 0 : env_int("RANK", env("RANK")));
  const int local_rank = env("LOCAL_RANK").empty() ? 0 : env_int("LOCAL_RANK", env("LOCAL_RANK"));
  LTH_CHECK(world >= 1, UsageError, "--world-size must be at least 1, got {}", world);
  LTH_CHECK(rank >= 0 && rank < world, UsageError, "--rank {} is outside the world of {} processes", rank, world);
  if (world == 1) return nullptr;
  LTH_CHECK(!host.empty() && !port_text.empty(), UsageError,
            "a world of {} processes needs a rendezvous: set MASTER_ADDR and MASTER_PORT or give --dist-init tcp://HOST:PORT",
            world);
  const int port = env_int("MASTER_PORT", port_text);
  LTH_CHECK(port > 0 && port < 65536, UsageError, "MASTER_PORT {} is not a TCP port", port);

  const bool cuda = device.rfind("cuda", 0) == 0;
  if (cuda && device == "cuda") device = "cuda:" + std::to_string(local_rank);
  std::string backend = options.backend;
  if (backend == "auto") backend = (cuda && have_nccl()) ? "nccl" : "gloo";
  LTH_CHECK(backend == "gloo" || backend == "nccl", UsageError, "--dist-backend must be auto, gloo or nccl, got '{}'",
            backend);
  LTH_CHECK(backend != "nccl" || have_nccl(), UsageError,
            "--dist-backend nccl: this LibTorch build has no NCCL (CPU-only); use gloo");
  LTH_CHECK(backend != "nccl" || cuda, UsageError, "--dist-backend nccl needs --device cuda");

  const auto timeout = std::chrono::milliseconds(1000LL * options.timeout_seconds);
  log::info("dist", "rank {}/{}: rendezvous at {}:{} ({})", rank, world, host, port, backend);
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<compat::C10dBackend> group;
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(port);
    so.isServer = rank == 0;
    so.numWorkers = static_cast<std::size_t>(world);
    so.waitWorkers = true;
    so.timeout = timeout;
    store = c10::make_intrusive<c10d::TCPStore>(host, so);
    if (backend == "gloo") {
      auto go = c10d::ProcessGroupGloo::Options::create(timeout);
      const std::string ifname = env("GLOO_SOCKET_IFNAME");
      if (!ifname.empty()) {
        go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      } else if (is_loopback(host)) {
        go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      } else {
        go->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      go->threads = 2;
      group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, go);
    } else {
#ifdef LTH_HAVE_NCCL
      auto no = c10d::ProcessGroupNCCL::Options::create();
      no->timeout = timeout;
      group = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, no);
#endif
    }
  } catch (const c10::Error& e) {
    LTH_FAIL(Error, "rank {}: cannot join the group at {}:{}: {}", rank, host, port, e.what_without_backtrace());
  } catch (const std::exception& e) {
    LTH_FAIL(Error, "rank {}: cannot join the group at {}:{}: {}", rank, host, port, e.what());
  }
  auto out = std::make_shared<C10dGroup>(store, group, rank, world, backend, backend == "nccl");
  if (cuda) out->device_index_ = torch::Device(device).has_index() ? torch::Device(device).index() : local_rank;
  log::info("dist", "rank {}/{} joined ({}, device {})", rank, world, backend, device);
  return out;
}

}  // namespace lth::dist
