"""``python -m imbexp.runs``: the runs left RUNNING in a store, and closing those no process will end.

    python -m imbexp.runs                      # list RUNNING runs: host, pid, whether it is alive
    python -m imbexp.runs close                # mark KILLED those whose process is gone
    python -m imbexp.runs close --older-than 48  # ... and those of other hosts running > 48 h

Every imbexp command already closes the dead runs of the experiment it uses when it starts; this
command does it for every experiment of the store, and shows what is still running where.
"""

from __future__ import annotations

import argparse
import sys

from omegaconf import OmegaConf

from imbexp import lifecycle, tracking
from imbexp._paths import config_dir, sqlite_file
from imbexp.errors import ConfigError, exit_with, first_line


def default_uri() -> str:
    """The store a run uses when ``tracking.uri`` is not given: the one in ``conf/config.yaml``."""
    import imbexp  # noqa: F401  (registers the ${imbexp.root:} resolver)

    return str(OmegaConf.load(config_dir() / "config.yaml").tracking.uri)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m imbexp.runs", description=__doc__.splitlines()[0])
    parser.add_argument("action", nargs="?", choices=("list", "close"), default="list",
                        help="list RUNNING runs (default), or close those whose process is gone")
    parser.add_argument("--tracking-uri", default=None,
                        help="the MLflow store (default: tracking.uri of conf/config.yaml, as a run uses)")
    parser.add_argument("--experiment", default=None, help="only this experiment (default: every one)")
    parser.add_argument("--older-than", type=float, default=None, metavar="HOURS",
                        help="close also runs of other hosts (or with no host recorded) running longer")
    return parser


def _experiment_ids(client, name: str | None) -> list[str]:
    if name is None:
        return [experiment.experiment_id for experiment in client.search_experiments()]
    found = client.get_experiment_by_name(name)
    if found is None or found.lifecycle_stage != "active":
        known = ", ".join(sorted(e.name for e in client.search_experiments())) or "none"
        exit_with(f"--experiment={name} is not an experiment of this store; use one of: {known}")
    return [found.experiment_id]


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.older_than is not None and args.older_than <= 0:
        exit_with(f"--older-than={args.older_than:g} is not allowed; use a number of hours > 0")
    uri = args.tracking_uri or default_uri()
    db = sqlite_file(uri)
    if db is not None and not db.exists():  # nothing ran there: do not make a store to say so
        print(f"no RUNNING runs in {uri} (no store there yet)")
        return
    try:
        # the same first-use lock as a run: MLflow creates its tables unlocked on a new file
        with tracking.first_use(uri):
            client = tracking.open_store(uri, "--tracking-uri")
        runs = lifecycle.running_runs(client, _experiment_ids(client, args.experiment))
    except SystemExit:
        raise
    except ConfigError as exc:
        exit_with(str(exc))
    except Exception as exc:
        exit_with(f"--tracking-uri={uri} cannot be read ({first_line(exc)[:300]}); "
                  "use the tracking.uri your runs were made with")
    if args.action == "list":
        if not runs:
            print(f"no RUNNING runs in {uri}")
            return
        print(f"{'run id':<34}{'host':<24}{'pid':>8}  {'state':<12}{'age (h)':>8}  name")
        for run in sorted(runs, key=lambda r: r.start_time):
            print(f"{run.run_id:<34}{run.host or '-':<24}{run.pid or '-':>8}  {run.state:<12}"
                  f"{run.age_hours():>8.1f}  {run.name}")
        dead = lifecycle.to_close(runs, args.older_than)
        if dead:
            print(f"{len(dead)} of them no process will end: python -m imbexp.runs close")
        return
    closed = lifecycle.close(client, lifecycle.to_close(runs, args.older_than))
    print(lifecycle.summary_line(closed) if closed else "imbexp: no RUNNING run to close "
          f"({len(runs)} RUNNING, each with a live process or on another host)")


if __name__ == "__main__":
    main(sys.argv[1:])
