"""tracking/check_dataset.py: checks a dataset as its reader sees it, prints a table of the findings,
writes an exclusion list. Exit status: 0 clean or warnings only, 1 errors, 2 the dataset could not be
opened (unknown name, missing path or list file)."""

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from lib.utils.dataset_check.checks import (
    ERROR,
    KINDS,
    Finding,
    check_sequence,
    duplicate_findings,
    load_error_finding,
)
from lib.utils.dataset_check.sources import (
    EVALUATION,
    TRAINING,
    DatasetSource,
    dataset_mode,
    evaluation_source,
    training_source,
)

EXAMPLES = 3


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='tracking/check_dataset.py',
        description=(
            'Check a dataset for what breaks training or evaluation, through the reader that uses it.\n'
            'Training names (DATA.TRAIN.DATASETS_NAME, upper case: LASOT, GOT10K_train, TRACKINGNET:0-3,\n'
            'CUSTOM:drones) go through the training readers, evaluation names (tracking/test.py --dataset,\n'
            'lower case: lasot, got10k_val, trackingnet, custom:drones:test) through the evaluation ones.\n'
            'Exit status: 1 errors, 0 clean or warnings only, 2 the dataset could not be opened.'
        ),
        epilog='kinds (severity for training / evaluation names):\n'
        + '\n'.join(
            f'  {kind} ({sev.get(TRAINING, "-")} / {sev.get(EVALUATION, "-")}): {meaning}'
            for kind, (sev, meaning) in KINDS.items()
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument('--dataset', required=True, help='a training or an evaluation dataset name')
    p.add_argument('--decode', action='store_true', help='decode every frame whole (default: headers only)')
    p.add_argument('--workers', type=int, default=8, help='threads reading frames (default 8)')
    p.add_argument(
        '--use_lmdb', type=int, choices=(0, 1), default=0, help='training names: read the LMDB form'
    )
    p.add_argument(
        '--set_path',
        action='append',
        default=[],
        metavar='ATTR=PATH',
        help="override a local.py path (repeatable); ATTR.KEY=PATH sets a dict entry, e.g. "
        "custom_datasets.drones=/data/drones",
    )
    p.add_argument(
        '--write-exclusions',
        '--write_exclusions',
        dest='write_exclusions',
        metavar='FILE',
        help='write the sequences with errors to FILE (merged with the names already there); training '
        'readers skip those named in exclude.txt at the dataset root',
    )
    p.add_argument('--no_progress', action='store_true', help='no progress bar')
    return p


def open_source(name: str, use_lmdb: bool = False, set_path: tuple | list = ()) -> DatasetSource:
    """The DatasetSource of `name` with the paths of the matching local.py (ValueError: unknown name)."""
    from lib.utils.local_settings import apply_set_path

    mode = dataset_mode(name)
    if mode is None:
        from lib.test.evaluation.datasets import available_datasets
        from lib.train.dataset import DATASET_NAMES

        raise ValueError(
            f"unknown dataset '{name}'. Training names: {', '.join(DATASET_NAMES)}, TRACKINGNET:<chunks>, "
            f"CUSTOM:<name>[:<split>]; evaluation names: {', '.join(available_datasets())}, "
            f'custom:<name>[:<split>]'
        )
    if mode == TRAINING:
        from lib.train.admin.environment import env_settings

        return training_source(name, apply_set_path(env_settings(), set_path), use_lmdb)
    from lib.test.evaluation.environment import env_settings

    return evaluation_source(name, apply_set_path(env_settings(), set_path))


def run_checks(
    source: DatasetSource, decode: bool = False, workers: int = 8, show_progress: bool = True
) -> list[Finding]:
    """Every finding of the dataset, sequences in list order."""
    from tqdm import tqdm

    findings = [load_error_finding(n, e) for n, e in source.load_errors] + duplicate_findings(source.names)
    bar = tqdm(total=source.count, unit='seq', disable=not show_progress, dynamic_ncols=True)
    with ThreadPoolExecutor(max(1, workers)) as pool:  # file reads release the GIL
        futures = [pool.submit(check_sequence, source, i, decode) for i in range(source.count)]
        for future in futures:
            findings += future.result()
            bar.update(1)
    bar.close()
    return findings


def format_report(source: DatasetSource, findings: list[Finding]) -> str:
    """The table (every kind checked in this mode, found or not) and the first example of each kind."""
    by_kind = {}
    for f in findings:
        by_kind.setdefault(f.kind, []).append(f)
    header = ('kind', 'severity', 'sequences', 'frames', 'examples')
    rows = []
    for kind, (severities, _) in KINDS.items():
        if source.mode not in severities:
            continue
        found = by_kind.get(kind, [])
        names = list(dict.fromkeys(f.sequence for f in found))
        examples = ', '.join(names[:EXAMPLES]) + (
            f', ... ({len(names) - EXAMPLES} more)' if len(names) > EXAMPLES else ''
        )
        rows.append(
            (
                kind,
                severities[source.mode],
                str(len(names)),
                str(sum(f.frames for f in found)),
                examples or '-',
            )
        )
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]
    lines = [
        '  '.join(c.ljust(w) if i != 2 and i != 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        + '  '
        + r[4]
        for r in [header] + rows
    ]
    details = [f'  {f.kind}: {f.sequence}: {f.detail}' for kind in KINDS for f in by_kind.get(kind, [])[:1]]
    return '\n'.join(lines + (['', 'first example of each kind:'] + details if details else []))


def summary_lines(source: DatasetSource, findings: list[Finding], seconds: float) -> list[str]:
    errors = {f.sequence for f in findings if f.severity(source.mode) == ERROR}
    warned = {f.sequence for f in findings} - errors
    total = source.count + len(source.load_errors)
    clean = total - len(errors) - len(warned)
    lines = [
        f'{source.name}: {total} sequences checked in {seconds:.1f}s ({source.description}): '
        f'{len(errors)} with errors, {len(warned)} with warnings only, {clean} clean'
    ]
    if source.excluded:
        lines.append(f'{len(source.excluded)} sequence(s) skipped, as {source.exclusion_file} names them')
    return lines


def write_exclusions(path: str, source: DatasetSource, findings: list[Finding]) -> list[str]:
    """Writes (atomically) the names of the sequences with errors, merged with those already in `path`
    and those the reader already skipped, so a rerun after an exclusion never brings them back."""
    from lib.train.dataset.layouts import read_name_list
    from lib.train.dataset.storage import FolderStorage
    from lib.utils.io import atomic_write_text

    folder, base = os.path.split(os.path.abspath(path))
    old = read_name_list(FolderStorage(folder), base) if os.path.isfile(path) else []
    errors = [f.sequence for f in findings if f.severity(source.mode) == ERROR]
    names = list(dict.fromkeys(old + list(source.excluded) + errors))
    text = (
        f'# Written by tracking/check_dataset.py --dataset {source.name}: sequences with errors, one per\n'
        f'# line. Training readers skip the sequences named in exclude.txt at the dataset root.\n'
        + ''.join(n + '\n' for n in names)
    )
    atomic_write_text(path, text)
    return names


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start = time.time()
    try:
        source = open_source(args.dataset, bool(args.use_lmdb), args.set_path)
    except (ValueError, OSError, UnicodeDecodeError) as e:  # unknown name, missing path or list file
        print(f'check_dataset: {e}', file=sys.stderr)
        return 2
    findings = run_checks(source, args.decode, args.workers, not args.no_progress)
    print(format_report(source, findings))
    print('\n'.join(summary_lines(source, findings, time.time() - start)))
    if args.write_exclusions:
        names = write_exclusions(args.write_exclusions, source, findings)
        print(f'wrote {len(names)} name(s) to {args.write_exclusions}')
        if source.exclusion_file is None:
            print(
                'note: the evaluation readers of official benchmarks read no exclusion list (the benchmark '
                'fixes its sequences)'
            )
        elif os.path.abspath(args.write_exclusions) != os.path.abspath(source.exclusion_file):
            print(f'note: the readers of {source.name} read {source.exclusion_file}; put the list there')
    has_errors = any(f.severity(source.mode) == ERROR for f in findings)
    return 1 if has_errors else 0
