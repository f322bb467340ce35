#!/usr/bin/env python3
"""Worst absolute error per output group of `lth forward` against the HF fixture (standard library).

usage: parity_errors.py LTH FIXTURE_DIR      e.g. build/lth ../shared/fixtures/hf-bert

Runs every head folder from both weight formats with --attentions and prints, per reference tensor
group, the largest |lth - transformers| over all elements, formats and heads.
"""
import json, os, shutil, struct, subprocess, sys, tempfile
from array import array
def rd(p):
    f=open(p,'rb');n=struct.unpack('<Q',f.read(8))[0];h=json.loads(f.read(n));b=8+n;o={}
    for k,m in h.items():
        if k=='__metadata__':continue
        s,e=m['data_offsets'];f.seek(b+s);a=array({'F32':'f','I64':'q'}[m['dtype']]);a.frombytes(f.read(e-s));o[k]=(m['shape'],list(a))
    return o
lth=os.path.abspath(sys.argv[1]); fx=os.path.abspath(sys.argv[2]); os.chdir(tempfile.mkdtemp()); ref=rd(fx+'/reference.safetensors')
inp={k:[ref['input.'+k][1][r*12:(r+1)*12] for r in range(3)] for k in ('input_ids','attention_mask','token_type_ids')}
json.dump(inp,open('in.json','w'))
groups={}
for head,names in {'model':{'last_hidden_state':'base.last_hidden_state','pooler_output':'base.pooler_output','logits':'seqcls.logits','hidden_states.0':'base.hidden_states.0','hidden_states.1':'base.hidden_states.1','hidden_states.2':'base.hidden_states.2','attentions.0':'base.attentions.0','attentions.1':'base.attentions.1'},
  'model-qa':{'start_logits':'qa.start_logits','end_logits':'qa.end_logits'},'model-token':{'logits':'token.logits'},'model-mlm':{'logits':'mlm.logits'}}.items():
  for fmt in ('model.safetensors','pytorch_model.bin'):
    d=f'{head}-{fmt}'; shutil.rmtree(d,ignore_errors=True); shutil.copytree(f'{fx}/{head}',d)
    for o in ('model.safetensors','pytorch_model.bin'):
        if o!=fmt and os.path.exists(f'{d}/{o}'): os.remove(f'{d}/{o}')
    subprocess.run([lth,'forward','--model',d,'--inputs','in.json','--out',d+'.out.safetensors','--attentions','--threads','1'],check=True,capture_output=True)
    got=rd(d+'.out.safetensors')
    for mine,theirs in names.items():
        g=theirs.split('.')[0]+'.'+theirs.split('.')[1].split('_')[0] if theirs.startswith('base') else theirs
        key=theirs if not theirs.startswith('base.hidden') and not theirs.startswith('base.att') else theirs.rsplit('.',1)[0]
        err=max(abs(a-b) for a,b in zip(got[mine][1],ref[theirs][1]))
        groups[key]=max(groups.get(key,0),err)
for k,v in sorted(groups.items()): print(f'{k:28s} {v:.3g}')
