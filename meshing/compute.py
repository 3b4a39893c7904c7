"""The meshing core: CAD file in, surface preview or best 3D mesh out.

Framework-free (no Django, Celery or Modal): the same code runs in a Modal
container, a Celery worker and a modal_stubs container. Every Gmsh run happens in
a fresh subprocess (`meshing/gmsh_runner.py`) with a hard timeout, because Gmsh
is a process-wide singleton that segfaults on some malformed STEP files; its
results are read back from files, never from stdout.

Two entry points (the compute function handlers):

- `generate_preview_mesh`: a fast surface triangulation, decimated to at most
  `preview_max_triangles`, uploaded as a JSON document three.js can draw
  (`positions`, flat xyz floats; `indices`, flat triangle vertex indices).
- `generate_mesh`: a sweep of 3D strategies (Gmsh algorithms Delaunay, Frontal,
  HXT and MMG3D, some with the Netgen optimiser) under a time budget. Each
  strategy is scored by element quality and count (see `score_strategy`) and the
  best one is kept. Uploads `.msh`, `_result.json` and `.quality.json`.

Files with no volume: a STEP/IGES/BREP made only of surfaces fails with BadInput
(a 3D mesh needs a solid); an STL is a triangulated skin by nature, so the core
tries to turn a closed STL into a volume first and fails with BadInput when the
skin does not enclose one.
"""
from __future__ import annotations

import json
import math
import os
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from jobs.isolation import BadInput, CoreCrashed, CoreError, CoreTimeout
from jobs.reporting import Reporter
# At import, not at first use: every call runs in a fresh forked child, which would import it again.
from jobs.transfer import download, upload

RUNNER = Path(__file__).with_name("gmsh_runner.py")

ALGORITHMS_3D = {"delaunay": 1, "frontal": 4, "mmg3d": 7, "hxt": 10}
# The full sweep, in the order it runs (the first ones are the fast, robust ones).
SWEEP = (
    ("delaunay", None),
    ("hxt", None),
    ("frontal", None),
    ("mmg3d", None),
    ("delaunay", "netgen"),
    ("hxt", "netgen"),
    ("frontal", "netgen"),
)
DEFAULT_PARAMS = {
    "target_size": None,  # element size in model units; None: derived from the part
    "target_elements": None,  # wanted element count, used when target_size is None
    "order": 1,
    "algorithm": "sweep",  # "sweep" or one of ALGORITHMS_3D
    "time_budget": 120,  # seconds for the whole sweep
    "max_elements": 2_000_000,  # refuse meshes (estimated or real) above this count
    "preview_max_triangles": 50_000,
}
MAX_TIME_BUDGET = 3600
# Gmsh produces about this many tetrahedra per size**3 of volume (measured on the
# reference parts, all algorithms within 20 %); used to turn an element count into a
# size and to refuse a huge mesh before spending the budget on it.
TETS_PER_SIZE_CUBED = 7.0
# A mesh estimated above this multiple of max_elements is refused before meshing.
ESTIMATE_MARGIN = 1.5
DEFAULT_SIZE_DIVISOR = 20  # no size and no count: diagonal / 20
PREVIEW_SIZE_DIVISOR = 40
INSPECT_TIMEOUT = 60
PREVIEW_TIMEOUT = 120
LOG_POLL_SECONDS = 0.5
LOG_LINES_PER_MESSAGE = 40
# The full mesh's Gmsh runs give way to previews (and to the portal's own processes) on a
# machine they share - a Celery worker, the stub - so that the preview a user is waiting for
# is not slowed down by a sweep that takes minutes. On Modal each call has CPUs of its own.
SWEEP_NICENESS = 10


# --- input validation -------------------------------------------------------------


def detect_format(data: bytes) -> str:
    """'step', 'iges', 'stl' or 'brep', by content; BadInput for anything else."""
    if not data:
        raise BadInput("The file is empty")
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"ISO-10303-21"):
        if b"END-ISO-10303-21" not in data[-4096:]:
            raise BadInput("The STEP file is truncated: it does not end with END-ISO-10303-21")
        return "step"
    if head.startswith((b"DBRep_DrawableShape", b"CASCADE Topology V")):
        return "brep"
    if _is_binary_stl(data):
        return "stl"
    if head[:5].lower() == b"solid" and b"facet" in data[:4096]:
        if b"endsolid" not in data[-1024:].lower():
            raise BadInput("The ASCII STL file is truncated: it does not end with endsolid")
        return "stl"
    if _looks_like_iges(data):
        return "iges"
    raise BadInput("Unrecognised file: it is not a STEP, IGES, STL or BREP file")


def _is_binary_stl(data: bytes) -> bool:
    if len(data) < 84:
        return False
    (count,) = struct.unpack_from("<I", data, 80)
    return count > 0 and len(data) == 84 + 50 * count


def _looks_like_iges(data: bytes) -> bool:
    lines = data[:400_000].decode("latin-1").splitlines()
    if not lines or len(lines[0]) < 73 or lines[0][72] != "S":
        return False
    sections = {line[72] for line in lines if len(line) >= 73}
    if not {"S", "G", "D", "P"} <= sections:
        return False
    if "T" not in {line[72] for line in data[-400:].decode("latin-1").splitlines() if len(line) >= 73}:
        raise BadInput("The IGES file is truncated: it has no terminate (T) section")
    return True


def normalize_params(params: dict | None) -> dict:
    """Defaults filled in and every value checked; BadInput names the bad one."""
    unknown = set(params or {}) - set(DEFAULT_PARAMS)
    if unknown:
        raise BadInput(f"Unknown meshing parameter(s): {', '.join(sorted(unknown))}")
    merged = {**DEFAULT_PARAMS, **{k: v for k, v in (params or {}).items() if v is not None}}
    try:
        if merged["target_size"] is not None:
            merged["target_size"] = float(merged["target_size"])
            if not merged["target_size"] > 0:
                raise ValueError("target_size must be positive")
        if merged["target_elements"] is not None:
            merged["target_elements"] = int(merged["target_elements"])
            if merged["target_elements"] < 1:
                raise ValueError("target_elements must be at least 1")
        merged["order"] = int(merged["order"])
        if merged["order"] not in (1, 2):
            raise ValueError("order must be 1 or 2")
        if merged["algorithm"] != "sweep" and merged["algorithm"] not in ALGORITHMS_3D:
            raise ValueError(f"algorithm must be 'sweep' or one of {', '.join(ALGORITHMS_3D)}")
        merged["time_budget"] = float(merged["time_budget"])
        if not 0 < merged["time_budget"] <= MAX_TIME_BUDGET:
            raise ValueError(f"time_budget must be between 0 and {MAX_TIME_BUDGET} seconds")
        merged["max_elements"] = int(merged["max_elements"])
        merged["preview_max_triangles"] = int(merged["preview_max_triangles"])
        if merged["max_elements"] < 1 or merged["preview_max_triangles"] < 100:
            raise ValueError("max_elements must be positive and preview_max_triangles at least 100")
    except (TypeError, ValueError) as exc:
        raise BadInput(f"Invalid meshing parameters: {exc}") from None
    return merged


def strategies_for(algorithm: str) -> list[dict]:
    chosen = SWEEP if algorithm == "sweep" else [s for s in SWEEP if s[0] == algorithm]
    return [
        {"name": name + (f"+{optimizer}" if optimizer else ""), "algorithm3d": ALGORITHMS_3D[name], "optimizer": optimizer}
        for name, optimizer in chosen
    ]


# --- running Gmsh ------------------------------------------------------------------


class _LogForwarder:
    """Follows a run's log files and sends new lines to the reporter while it runs."""

    def __init__(self, paths, reporter, prefix):
        self.paths, self.reporter, self.prefix = paths, reporter, prefix
        self.offsets = dict.fromkeys(paths, 0)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        if self.reporter is not None:
            self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.reporter is not None:
            self.stop.set()
            self.thread.join()
            self.flush()

    def _loop(self):
        while not self.stop.wait(LOG_POLL_SECONDS):
            self.flush()

    def flush(self):
        lines = []
        for path in self.paths:
            try:
                with open(path, "rb") as handle:
                    handle.seek(self.offsets[path])
                    chunk = handle.read()
            except FileNotFoundError:
                continue
            complete = chunk.rfind(b"\n") + 1
            self.offsets[path] += complete
            lines += [line for line in chunk[:complete].decode("utf-8", "replace").splitlines() if line.strip()]
        for start in range(0, len(lines), LOG_LINES_PER_MESSAGE):
            batch = lines[start : start + LOG_LINES_PER_MESSAGE]
            self.reporter.log("\n".join(f"[{self.prefix}] {line}" for line in batch))


def run_gmsh(task: str, request: dict, workdir: Path, name: str, timeout: float, reporter=None, niceness: int = 0) -> dict:
    """Run one Gmsh task in a fresh process (at `niceness`); return its result or raise a CoreError."""
    request = {
        **request,
        "task": task,
        "niceness": niceness,
        "log_path": str(workdir / f"{name}.log"),
        "stdout_path": str(workdir / f"{name}.stdout"),
        "parent_pid": os.getpid(),
    }
    request_path, response_path = workdir / f"{name}.request.json", workdir / f"{name}.response.json"
    request_path.write_text(json.dumps(request))
    with _LogForwarder([request["log_path"], request["stdout_path"]], reporter, name):
        process = subprocess.Popen(
            [sys.executable, str(RUNNER), str(request_path), str(response_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, killed as a whole
        )
        returncode = _wait(process, max(timeout, 0.1))
        if returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise CoreTimeout(f"Gmsh {task} stopped after the time limit of {timeout:.0f} s")
    if returncode < 0 or not response_path.exists():
        raise CoreCrashed(f"Gmsh {task} crashed ({_describe_returncode(returncode)})")
    response = json.loads(response_path.read_text())
    if not response["ok"]:
        error_class = BadInput if response["error_type"] == "bad_input" else CoreError
        raise error_class(response["message"], error_type=response["error_type"])
    return response["result"]


def _wait(process: subprocess.Popen, timeout: float) -> int | None:
    """The exit code, or None at the timeout; told the moment the process exits.

    Popen.wait(timeout) polls with sleeps growing to 50 ms, which added 25 ms on average to
    every Gmsh run (two per preview). A pidfd becomes readable when the process exits.
    """
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # not Linux >= 5.3: poll as Popen does
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
    return process.wait() if ready else None


def _describe_returncode(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode} without a result"


def inspect_file(path: Path, file_format: str, workdir: Path, reporter=None, niceness: int = 0) -> dict:
    """Read the geometry once, in isolation: a crash here means the file is malformed."""
    request = {"input_path": str(path), "format": file_format}
    try:
        return run_gmsh("inspect", request, workdir, "inspect", INSPECT_TIMEOUT, reporter, niceness)
    except CoreCrashed as exc:
        raise BadInput(
            f"Gmsh crashed while reading the {file_format.upper()} file ({exc}): the file is malformed, "
            "for example a STEP file with dangling entity references"
        ) from None
    except CoreTimeout:
        raise BadInput(f"Gmsh could not read the {file_format.upper()} file within {INSPECT_TIMEOUT} s") from None
    except CoreError as exc:
        if isinstance(exc, BadInput):
            raise
        raise BadInput(f"Gmsh could not read the {file_format.upper()} file: {exc}") from None


def element_size(params: dict, geometry: dict) -> float:
    if params["target_size"]:
        return params["target_size"]
    if params["target_elements"] and geometry["volume"] > 0:
        return (TETS_PER_SIZE_CUBED * geometry["volume"] / params["target_elements"]) ** (1 / 3)
    return (geometry["diagonal"] or 1.0) / DEFAULT_SIZE_DIVISOR


def check_estimated_count(params: dict, geometry: dict, size: float) -> int | None:
    if geometry["volume"] <= 0:
        return None
    estimate = int(TETS_PER_SIZE_CUBED * geometry["volume"] / size**3)
    if estimate > params["max_elements"] * ESTIMATE_MARGIN:
        raise BadInput(
            f"Element size {size:g} would give about {estimate:,} elements, above the limit of "
            f"{params['max_elements']:,}: choose a larger element size or a smaller element count"
        )
    return estimate


# --- preview -------------------------------------------------------------------------


def preview_from_file(path: Path, params: dict | None, workdir: Path, reporter=None) -> dict:
    """Surface preview of a local file; writes workdir/preview.json and returns its figures."""
    params = normalize_params(params)
    file_format = detect_format(path.read_bytes())
    started = time.monotonic()
    geometry = inspect_file(path, file_format, workdir, reporter)
    size = (geometry["diagonal"] or 1.0) / PREVIEW_SIZE_DIVISOR
    request = {
        "input_path": str(path),
        "format": file_format,
        "size": size,
        "max_triangles": params["preview_max_triangles"],
        "output_path": str(workdir / "preview.json"),
    }
    try:
        figures = run_gmsh("preview", request, workdir, "preview", PREVIEW_TIMEOUT, reporter)
    except CoreCrashed as exc:
        raise BadInput(f"Gmsh crashed while triangulating the surfaces ({exc}): the geometry is malformed") from None
    return {
        **figures,
        "format": file_format,
        "geometry": geometry,
        "seconds": round(time.monotonic() - started, 3),
        "preview_path": request["output_path"],
    }


# --- full mesh -----------------------------------------------------------------------


def score_strategy(figures: dict, reference_count: float) -> float:
    """Higher is better; any inverted element ranks a strategy below every valid one.

    0.35 x minimum minSICN (worst element) + 0.35 x mean gamma (overall shape)
    + 0.2 x share of elements that are not poor (minSICN >= 0.1)
    + 0.1 x closeness of the element count to the reference (the target count when
    given, else the median of the sweep): 1 / (1 + |ln(count / reference)|).
    """
    if figures["inverted"]:
        return round(-1.0 - figures["inverted"] / figures["elements"], 6)
    count_term = 1 / (1 + abs(math.log(figures["elements"] / reference_count)))
    score = (
        0.35 * max(figures["min_sicn"]["min"], 0.0)
        + 0.35 * figures["gamma"]["mean"]
        + 0.2 * (1 - figures["min_sicn"]["poor_share"])
        + 0.1 * count_term
    )
    return round(score, 6)


def mesh_from_file(path: Path, params: dict | None, workdir: Path, reporter=None) -> dict:
    """Sweep the strategies on a local file; write the best mesh and both reports into workdir.

    Returns the `_result.json` content plus the three output paths.
    """
    params = normalize_params(params)
    file_format = detect_format(path.read_bytes())
    started = time.monotonic()
    geometry = inspect_file(path, file_format, workdir, reporter, SWEEP_NICENESS)
    if geometry["volumes"] == 0 and file_format != "stl":
        raise BadInput(
            f"The {file_format.upper()} file has no solid volume ({geometry['surfaces']} surfaces only), "
            "so it cannot be meshed in 3D"
        )
    size = element_size(params, geometry)
    estimate = check_estimated_count(params, geometry, size)
    strategies = strategies_for(params["algorithm"])
    tried = _sweep(path, file_format, params, size, strategies, workdir, reporter, started)
    succeeded = [t for t in tried if t["status"] == "succeeded"]
    if not succeeded:
        _raise_for_no_result(tried, params)
    reference = params["target_elements"] or statistics.median(t["elements"] for t in succeeded)
    for entry in succeeded:
        entry["score"] = score_strategy(entry, reference)
    best = max(succeeded, key=lambda t: t["score"])  # max keeps the first of equal scores
    outputs = _write_outputs(workdir, best, tried, params, geometry, size, estimate, file_format, started)
    if reporter is not None:
        reporter.progress(len(strategies), len(strategies), f"best: {best['strategy']}")
    return outputs


def _sweep(path, file_format, params, size, strategies, workdir, reporter, started) -> list[dict]:
    tried = []
    for number, strategy in enumerate(strategies):
        remaining = params["time_budget"] - (time.monotonic() - started)
        entry = {"strategy": strategy["name"], "algorithm3d": strategy["algorithm3d"], "optimizer": strategy["optimizer"]}
        if remaining < 0.5:
            tried.append({**entry, "status": "skipped", "reason": "time budget used up"})
            continue
        if reporter is not None:
            reporter.progress(number, len(strategies), f"strategy {strategy['name']}")
        # Only the budget limits a strategy: a tighter per-strategy cap would make the outcome
        # depend on the machine's load, and the sweep must give the same mesh everywhere. A
        # strategy stopped by the budget is recorded as "timeout"; the best finished one wins.
        timeout = remaining
        request = {
            "input_path": str(path),
            "format": file_format,
            "size": size,
            "order": params["order"],
            "max_elements": params["max_elements"],
            "strategy": strategy,
            "output_path": str(workdir / f"{_slug(strategy['name'])}.msh"),
        }
        run_started = time.monotonic()
        try:
            figures = run_gmsh("mesh", request, workdir, _slug(strategy["name"]), timeout, reporter, SWEEP_NICENESS)
        except CoreError as exc:
            tried.append({**entry, "status": exc.error_type, "reason": str(exc), "seconds": _since(run_started)})
            continue
        tried.append(
            {**entry, "status": "succeeded", **figures, "seconds": _since(run_started), "msh_path": request["output_path"]}
        )
    return tried


def _raise_for_no_result(tried: list[dict], params: dict):
    statuses = {t["status"] for t in tried}
    reasons = "; ".join(f"{t['strategy']}: {t.get('reason', t['status'])}" for t in tried)
    bad_input = [t for t in tried if t["status"] in ("bad_input", "over_budget")]
    if bad_input:
        raise BadInput(bad_input[0]["reason"])
    if statuses <= {"timeout", "skipped"}:
        raise CoreTimeout(f"No strategy finished within the time budget of {params['time_budget']:g} s ({reasons})")
    if statuses <= {"gmsh_error", "skipped"}:
        # Gmsh rejected the geometry with every algorithm: a retry would fail the same way.
        raise BadInput(f"Every meshing strategy failed on this geometry: {reasons}")
    raise CoreError(f"Every meshing strategy failed: {reasons}", error_type="mesh_failed")


def _write_outputs(workdir, best, tried, params, geometry, size, estimate, file_format, started) -> dict:
    def public(entry):
        return {k: v for k, v in entry.items() if k != "msh_path"}

    best_msh = Path(best["msh_path"])
    final_msh = workdir / "mesh.msh"
    os.replace(best_msh, final_msh)
    result = {
        "strategy": best["strategy"],
        "score": best["score"],
        "elements": best["elements"],
        "nodes": best["nodes"],
        "inverted": best["inverted"],
        "min_sicn": _summary(best["min_sicn"]),
        "gamma": _summary(best["gamma"]),
        "element_size": round(size, 9),
        "estimated_elements": estimate,
        "order": params["order"],
        "format": file_format,
        "geometry": geometry,
        "params": params,
        "strategies": [_without_histograms(public(t)) for t in tried],
        "seconds": _since(started),
    }
    quality = {
        "strategy": best["strategy"],
        "elements": best["elements"],
        "poor_threshold": 0.1,
        "metrics": {"minSICN": best["min_sicn"], "gamma": best["gamma"]},
        "inverted": best["inverted"],
    }
    result_path, quality_path = workdir / "mesh_result.json", workdir / "mesh.quality.json"
    result_path.write_text(json.dumps(result, indent=1))
    quality_path.write_text(json.dumps(quality, indent=1))
    return {**result, "msh_path": str(final_msh), "result_path": str(result_path), "quality_path": str(quality_path)}


def _summary(metric: dict) -> dict:
    return {k: v for k, v in metric.items() if k != "histogram"}


def _without_histograms(entry: dict) -> dict:
    return {k: (_summary(v) if isinstance(v, dict) and "histogram" in v else v) for k, v in entry.items()}


def _since(moment: float) -> float:
    return round(time.monotonic() - moment, 3)


def _slug(name: str) -> str:
    return "strategy-" + name.replace("+", "-")


# --- compute function handlers ------------------------------------------------------------


def _fetch_input(source_url: str, filename: str, workdir: Path) -> Path:
    suffix = Path(filename or "input").suffix.lower()[:8]
    path = workdir / f"input{suffix}"
    path.write_bytes(download(source_url))
    return path


def _upload(upload_urls: dict | None, key: str, path: str, content_type: str) -> bool:
    if not upload_urls or not upload_urls.get(key):
        return False
    upload(upload_urls[key], Path(path).read_bytes(), content_type)
    return True


def generate_preview_mesh(
    *, source_url, filename="", params=None, callback_url=None, callback_key=None, attempt_id=None, upload_urls=None, **_
) -> dict:
    """Handler: surface preview of the file at source_url, uploaded to upload_urls['preview']."""
    reporter = Reporter(callback_url, callback_key)
    with tempfile.TemporaryDirectory(prefix="preview-") as tmp:
        workdir = Path(tmp)
        path = _fetch_input(source_url, filename, workdir)
        reporter.log(f"Preview of {filename or 'input'} ({path.stat().st_size} bytes)")
        result = preview_from_file(path, params, workdir, reporter)
        result["uploaded"] = _upload(upload_urls, "preview", result.pop("preview_path"), "application/json")
    # No closing log line here: the portal writes one when it stores the result, and the
    # call's result is handed back only once its queued log lines are posted.
    return result


def generate_mesh(
    *, source_url, filename="", params=None, callback_url=None, callback_key=None, attempt_id=None, upload_urls=None, **_
) -> dict:
    """Handler: best 3D mesh of the file at source_url; uploads msh, result and quality files."""
    reporter = Reporter(callback_url, callback_key)
    with tempfile.TemporaryDirectory(prefix="mesh-") as tmp:
        workdir = Path(tmp)
        path = _fetch_input(source_url, filename, workdir)
        reporter.log(f"Meshing {filename or 'input'} ({path.stat().st_size} bytes)")
        result = mesh_from_file(path, params, workdir, reporter)
        uploaded = [
            key
            for key, path_key, content_type in (
                ("msh", "msh_path", "model/vnd.gmsh.msh"),
                ("result", "result_path", "application/json"),
                ("quality", "quality_path", "application/json"),
            )
            if _upload(upload_urls, key, result.pop(path_key), content_type)
        ]
    result["uploaded"] = uploaded  # the portal logs the outcome when it stores it
    return result
