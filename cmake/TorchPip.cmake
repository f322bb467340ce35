# LTH_TORCH=pip: the LibTorch inside the project venv's PyPI `torch` wheel (scripts/install-deps puts
# it in .venv). Included before find_package(Torch). The wheel is a CUDA build, so the CUDA toolkit
# (nvcc + headers) must be present: lth then compiles every --device cuda path and NCCL. At run time
# the wheel's own CUDA libraries (site-packages/nvidia/*) are used, never the system toolkit's.

set(LTH_PYTHON "${PROJECT_SOURCE_DIR}/.venv/bin/python" CACHE FILEPATH "Python of the venv whose torch wheel is used")
if(NOT EXISTS "${LTH_PYTHON}")
  message(FATAL_ERROR "LTH_TORCH=pip: no Python at ${LTH_PYTHON}; run scripts/install-deps (it creates .venv)")
endif()

execute_process(
  COMMAND "${LTH_PYTHON}" -c
    "import os, torch, torch.utils; print(torch.utils.cmake_prefix_path); print(torch.__version__); print(torch.version.cuda or ''); print(int(torch._C._GLIBCXX_USE_CXX11_ABI)); print(os.path.dirname(os.path.dirname(torch.__file__)))"
  OUTPUT_VARIABLE _lth_torch_info RESULT_VARIABLE _lth_rc ERROR_VARIABLE _lth_err OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _lth_rc EQUAL 0)
  message(FATAL_ERROR "LTH_TORCH=pip: '${LTH_PYTHON} -c \"import torch\"' failed: ${_lth_err}")
endif()
string(REPLACE "\n" ";" _lth_torch_info "${_lth_torch_info}")
list(GET _lth_torch_info 0 LTH_TORCH_CMAKE_PREFIX)
list(GET _lth_torch_info 1 LTH_TORCH_WHEEL_VERSION)
list(GET _lth_torch_info 2 LTH_TORCH_WHEEL_CUDA)
list(GET _lth_torch_info 3 LTH_TORCH_WHEEL_CXX11_ABI)
list(GET _lth_torch_info 4 LTH_TORCH_SITE_PACKAGES)
message(STATUS "lth: torch wheel ${LTH_TORCH_WHEEL_VERSION} (CUDA '${LTH_TORCH_WHEEL_CUDA}', C++11 ABI ${LTH_TORCH_WHEEL_CXX11_ABI}) from ${LTH_TORCH_CMAKE_PREFIX}")
# Debian's fmt, CLI11 and sentencepiece use the C++11 ABI; a pre-C++11-ABI wheel could not link with them.
if(NOT LTH_TORCH_WHEEL_CXX11_ABI EQUAL 1)
  message(FATAL_ERROR "LTH_TORCH=pip: this torch wheel uses the old C++ ABI; Debian's fmt/sentencepiece need _GLIBCXX_USE_CXX11_ABI=1")
endif()
list(PREPEND CMAKE_PREFIX_PATH "${LTH_TORCH_CMAKE_PREFIX}")

if(LTH_TORCH_WHEEL_CUDA)
  # The toolkit's nvcc and headers (a same-major toolkit is enough: lth has no .cu sources, it only
  # includes CUDA headers through c10/ATen and links the wheel's libraries).
  if(NOT CUDAToolkit_ROOT AND NOT DEFINED ENV{CUDA_HOME} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CUDAToolkit_ROOT /usr/local/cuda)
  endif()
  if(NOT CMAKE_CUDA_COMPILER)
    find_program(LTH_NVCC nvcc HINTS ${CUDAToolkit_ROOT}/bin $ENV{CUDA_HOME}/bin /usr/local/cuda/bin)
    if(NOT LTH_NVCC)
      message(FATAL_ERROR "LTH_TORCH=pip: the torch wheel is a CUDA ${LTH_TORCH_WHEEL_CUDA} build but no nvcc was found "
                          "(install the CUDA toolkit, or set CUDA_HOME)")
    endif()
    set(CMAKE_CUDA_COMPILER "${LTH_NVCC}" CACHE FILEPATH "")
  endif()
  get_filename_component(_lth_cuda_root "${CMAKE_CUDA_COMPILER}" DIRECTORY)
  get_filename_component(_lth_cuda_root "${_lth_cuda_root}" DIRECTORY)
  set(CUDA_TOOLKIT_ROOT_DIR "${_lth_cuda_root}" CACHE PATH "")
  set(CUDAToolkit_ROOT "${_lth_cuda_root}")
  # lth has no .cu sources, so the kernel architectures do not matter; Caffe2's cuda.cmake wants them
  # in TORCH_CUDA_ARCH_LIST (and warns when CMake's own CMAKE_CUDA_ARCHITECTURES is set).
  if(NOT DEFINED TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
    set(TORCH_CUDA_ARCH_LIST "8.0")
  endif()
  enable_language(CUDA)
  unset(CMAKE_CUDA_ARCHITECTURES CACHE)
  unset(CMAKE_CUDA_ARCHITECTURES)
  # cuDNN and cuSPARSELt headers: the wheel's nvidia-* packages ship them.
  set(_lth_nv "${LTH_TORCH_SITE_PACKAGES}/nvidia")
  if(NOT CUDNN_ROOT AND EXISTS "${_lth_nv}/cudnn/include/cudnn.h")
    set(CUDNN_ROOT "${_lth_nv}/cudnn")
    set(CUDNN_INCLUDE_DIR "${_lth_nv}/cudnn/include" CACHE PATH "")
    file(GLOB _lth_cudnn_lib "${_lth_nv}/cudnn/lib/libcudnn.so*")
    list(GET _lth_cudnn_lib 0 _lth_cudnn_lib)
    set(CUDNN_LIBRARY "${_lth_cudnn_lib}" CACHE FILEPATH "")
  endif()
  if(NOT CUSPARSELT_ROOT AND EXISTS "${_lth_nv}/cusparselt/include")
    set(CUSPARSELT_ROOT "${_lth_nv}/cusparselt")
  endif()
  # Run time: the wheel's CUDA libraries first (the torch libraries were built against them).
  file(GLOB LTH_TORCH_NVIDIA_LIBDIRS LIST_DIRECTORIES true "${_lth_nv}/*/lib")
  list(APPEND CMAKE_BUILD_RPATH ${LTH_TORCH_NVIDIA_LIBDIRS} "${LTH_TORCH_SITE_PACKAGES}/torch/lib")
endif()

# The wheel links Kineto into libtorch_cpu; TorchConfig still looks for a separate libkineto and warns.
# Pointing the lookup at libc10 (linked anyway) keeps the configure output clean.
if(NOT kineto_LIBRARY AND EXISTS "${LTH_TORCH_SITE_PACKAGES}/torch/lib/libc10.so")
  set(kineto_LIBRARY "${LTH_TORCH_SITE_PACKAGES}/torch/lib/libc10.so" CACHE FILEPATH "")
endif()

# One OpenMP runtime in the process: the wheel's libtorch brings its own libgomp.so.1 (found first at
# run time through the rpath), so lth's OpenMP code links against that one too. A GOMP symbol it
# lacks then fails at link time rather than at load time.
if(NOT OpenMP_gomp_LIBRARY AND EXISTS "${LTH_TORCH_SITE_PACKAGES}/torch/lib/libgomp.so.1")
  set(OpenMP_gomp_LIBRARY "${LTH_TORCH_SITE_PACKAGES}/torch/lib/libgomp.so.1" CACHE FILEPATH "")
endif()
