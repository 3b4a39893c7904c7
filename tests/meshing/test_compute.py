"""The meshing core on real parts built with Gmsh's OpenCASCADE kernel (no Django)."""
import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from jobs.isolation import BadInput, CoreTimeout
from meshing import compute

SMALL = {"time_budget": 60}


@pytest.fixture(scope="module")
def plate_sweep(parts, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("plate-sweep")
    return compute.mesh_from_file(parts["plate_with_hole"], SMALL, workdir)


# --- input detection -------------------------------------------------------------------


def test_formats_are_detected_by_content(parts):
    assert compute.detect_format(parts["plate_with_hole"].read_bytes()) == "step"
    assert compute.detect_format(parts["cube"].read_bytes()) == "stl"
    assert compute.detect_format(b"solid x\n facet normal 0 0 1\n outer loop\n endloop\n endfacet\nendsolid x\n") == "stl"
    iges = "".join(
        f"{text:<72}{section}{number:>7}\n"
        for text, section, number in (("header", "S", 1), ("1H,,1H;", "G", 1), ("110", "D", 1), ("110,0;", "P", 1), ("S1G1D1P1", "T", 1))
    )
    assert compute.detect_format(iges.encode()) == "iges"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (os.urandom(4096), "not a STEP, IGES, STL or BREP"),
        (b"ISO-10303-21;\nHEADER;\nDATA;\n#1=CARTESIAN_POINT('',(0.,0.,0.));\n", "truncated"),
        (b"solid cut\n facet normal 0 0 1\n outer loop\n", "truncated"),
    ],
)
def test_unusable_bytes_are_bad_input(content, message):
    with pytest.raises(BadInput, match=message):
        compute.detect_format(content)


def test_invalid_parameters_name_the_problem():
    with pytest.raises(BadInput, match="order must be 1 or 2"):
        compute.normalize_params({"order": 3})
    with pytest.raises(BadInput, match="algorithm must be"):
        compute.normalize_params({"algorithm": "magic"})
    with pytest.raises(BadInput, match="Unknown meshing parameter"):
        compute.normalize_params({"colour": "red"})


# --- preview ------------------------------------------------------------------------------


def test_preview_is_a_triangulated_surface_for_three_js(parts, tmp_path):
    figures = compute.preview_from_file(parts["plate_with_hole"], None, tmp_path)
    preview = json.loads(Path(figures["preview_path"]).read_text())
    assert preview["format"] == "mesh-preview/1"
    assert len(preview["positions"]) == 3 * preview["vertex_count"]
    assert len(preview["indices"]) == 3 * preview["triangle_count"] > 1000
    assert max(preview["indices"]) == preview["vertex_count"] - 1
    assert figures["geometry"]["volumes"] == 1
    assert figures["bbox"][3] == pytest.approx(40, abs=1e-3)


def test_preview_is_deterministic_and_decimated_to_the_limit(parts, tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    first = compute.preview_from_file(parts["l_bracket"], {"preview_max_triangles": 600}, tmp_path / "a")
    second = compute.preview_from_file(parts["l_bracket"], {"preview_max_triangles": 600}, tmp_path / "b")
    assert first["source_triangle_count"] > 600
    assert 0 < first["triangle_count"] <= 600
    assert Path(first["preview_path"]).read_bytes() == Path(second["preview_path"]).read_bytes()


def test_stl_preview_keeps_its_triangles(parts, tmp_path):
    figures = compute.preview_from_file(parts["cube"], None, tmp_path)
    assert figures["format"] == "stl"
    assert figures["triangle_count"] == figures["source_triangle_count"] > 12


# --- full mesh ------------------------------------------------------------------------------


def test_sweep_tries_every_strategy_and_keeps_the_best(plate_sweep):
    tried = plate_sweep["strategies"]
    assert [t["strategy"] for t in tried] == [s["name"] for s in compute.strategies_for("sweep")]
    assert all(t["status"] == "succeeded" for t in tried)
    best = max(tried, key=lambda t: t["score"])
    assert plate_sweep["strategy"] == best["strategy"]
    assert plate_sweep["elements"] == best["elements"] > 500
    assert plate_sweep["inverted"] == 0
    assert 0 < plate_sweep["min_sicn"]["min"] <= plate_sweep["min_sicn"]["mean"] <= 1
    assert {"algorithm3d", "elements", "min_sicn", "gamma", "inverted", "score", "seconds"} <= set(tried[0])


def test_outputs_are_written_as_files(plate_sweep):
    msh = Path(plate_sweep["msh_path"]).read_text()
    assert msh.startswith("$MeshFormat\n4.1")
    result = json.loads(Path(plate_sweep["result_path"]).read_text())
    assert result["strategy"] == plate_sweep["strategy"] and len(result["strategies"]) == 7
    quality = json.loads(Path(plate_sweep["quality_path"]).read_text())
    histogram = quality["metrics"]["minSICN"]["histogram"]
    assert sum(histogram["counts"]) == plate_sweep["elements"]
    assert len(histogram["edges"]) == len(histogram["counts"]) + 1
    assert quality["metrics"]["gamma"]["poor_share"] >= 0


def test_same_input_gives_identical_figures(parts, plate_sweep, tmp_path):
    winner = next(t for t in plate_sweep["strategies"] if t["strategy"] == plate_sweep["strategy"])
    algorithm = winner["strategy"].split("+")[0]
    again = compute.mesh_from_file(parts["plate_with_hole"], {**SMALL, "algorithm": algorithm}, tmp_path)
    same = next(t for t in again["strategies"] if t["strategy"] == winner["strategy"])
    for key in ("elements", "nodes", "min_sicn", "gamma", "inverted"):
        assert same[key] == winner[key]


def test_second_order_l_bracket(parts, tmp_path):
    result = compute.mesh_from_file(parts["l_bracket"], {**SMALL, "algorithm": "hxt", "order": 2}, tmp_path)
    assert result["order"] == 2
    assert result["strategy"].startswith("hxt")
    assert re.search(r"\n3 \d+ 11 \d+\n", Path(result["msh_path"]).read_text())  # blocks of 10-node tetrahedra
    assert result["elements"] > 500


@pytest.mark.parametrize("name, file_format", [("plate_iges", "iges"), ("plate_brep", "brep")])
def test_iges_and_brep_give_the_same_mesh_as_step(parts, tmp_path, name, file_format):
    (tmp_path / "step").mkdir(), (tmp_path / "other").mkdir()
    params = {**SMALL, "algorithm": "delaunay"}
    step = compute.mesh_from_file(parts["plate_with_hole"], params, tmp_path / "step")
    other = compute.mesh_from_file(parts[name], params, tmp_path / "other")
    assert other["format"] == file_format
    assert other["geometry"]["volumes"] == 1
    assert abs(other["elements"] - step["elements"]) <= 0.05 * step["elements"]


def test_closed_stl_is_meshed_as_a_volume(parts, tmp_path):
    result = compute.mesh_from_file(parts["cube"], {**SMALL, "algorithm": "delaunay"}, tmp_path)
    assert result["format"] == "stl" and result["elements"] > 100


def test_element_count_target_sets_the_size(parts, tmp_path):
    result = compute.mesh_from_file(
        parts["plate_with_hole"], {**SMALL, "algorithm": "delaunay", "target_elements": 8000}, tmp_path
    )
    assert 4000 < result["elements"] < 16000


# --- bad input ------------------------------------------------------------------------------


def _write(tmp_path, name, content) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_dangling_references_crash_gmsh_not_the_caller(parts, tmp_path):
    step = parts["plate_with_hole"].read_text()
    dangling = re.sub(r"(ADVANCED_FACE\('',\()#\d+", r"\1#999999", step)
    path = _write(tmp_path, "dangling.step", dangling)
    with pytest.raises(BadInput, match="malformed"):
        compute.mesh_from_file(path, SMALL, tmp_path)
    # The caller lives on and Gmsh still works for the next file.
    assert compute.preview_from_file(parts["cube"], None, tmp_path)["triangle_count"] > 0


def test_truncated_step_is_refused(parts, tmp_path):
    data = parts["plate_with_hole"].read_bytes()
    with pytest.raises(BadInput, match="truncated"):
        compute.mesh_from_file(_write(tmp_path, "cut.step", data[: len(data) // 2]), SMALL, tmp_path)


def test_random_bytes_are_refused(tmp_path):
    with pytest.raises(BadInput, match="Unrecognised"):
        compute.preview_from_file(_write(tmp_path, "noise.step", os.urandom(10_000)), None, tmp_path)


def test_surface_only_step_has_no_volume_to_mesh(parts, tmp_path):
    with pytest.raises(BadInput, match="no solid volume"):
        compute.mesh_from_file(parts["surface_only"], SMALL, tmp_path)
    # Its surface can still be previewed.
    assert compute.preview_from_file(parts["surface_only"], None, tmp_path)["triangle_count"] > 0


def test_estimated_element_count_over_budget_is_refused_before_meshing(parts, tmp_path):
    with pytest.raises(BadInput, match="above the limit of 2,000,000"):
        compute.mesh_from_file(parts["plate_with_hole"], {**SMALL, "target_size": 0.05}, tmp_path)


def test_huge_stl_mesh_is_refused_before_meshing(parts, tmp_path):
    # The cube's skin encloses 1000 mm3; a 0.05 mm size would give billions of elements.
    with pytest.raises(BadInput, match="would give about"):
        compute.mesh_from_file(parts["cube"], {**SMALL, "target_size": 0.05}, tmp_path)


def test_real_element_count_over_budget_is_refused(parts, tmp_path):
    with pytest.raises(BadInput, match="above the limit of 1700"):
        compute.mesh_from_file(parts["plate_with_hole"], {**SMALL, "algorithm": "delaunay", "max_elements": 1700}, tmp_path)


def test_strategy_past_the_time_budget_is_killed(parts, tmp_path):
    with pytest.raises(CoreTimeout, match="time budget of 1.5 s"):
        compute.mesh_from_file(parts["cube"], {"algorithm": "mmg3d", "time_budget": 1.5, "target_size": 0.6}, tmp_path)


def test_a_gmsh_run_is_waited_for_by_exit_code_or_timeout():
    import subprocess
    import sys

    exits = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    hangs = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert compute._wait(exits, timeout=20) == 3
        assert compute._wait(hangs, timeout=0.2) is None
    finally:
        hangs.kill()
        hangs.wait()


def test_a_gmsh_run_keeps_the_numeric_libraries_to_one_thread():
    """Even where the environment asks for more: idle OpenBLAS threads spin and take a second core."""
    import subprocess
    import sys

    code = (
        "import os; import meshing.gmsh_runner; import gmsh, numpy; "  # gmsh.py imports numpy, which starts OpenBLAS
        "print(len(os.listdir('/proc/self/task')))"
    )
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "4", "OMP_NUM_THREADS": "4"}
    threads = subprocess.run(
        [sys.executable, "-c", code], cwd=Path(compute.__file__).parents[1], env=environment,
        capture_output=True, text=True, check=True,
    ).stdout

    assert int(threads) == 1


def _runner_niceness_while(run, workdir: Path) -> set[int]:
    """The nice values seen on this run's Gmsh runner processes (found by their request files)."""
    import time

    seen: set[int] = set()
    thread = threading.Thread(target=run)
    thread.start()
    while thread.is_alive():
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and str(workdir) in (entry / "cmdline").read_text():
                    # /proc/<pid>/stat: the 19th field is the nice value (the name may hold spaces).
                    seen.add(int((entry / "stat").read_text().rsplit(")", 1)[1].split()[16]))
            except (OSError, IndexError, ValueError):
                pass
        time.sleep(0.01)
    thread.join()
    return seen


def test_the_sweep_gives_way_to_previews(parts, tmp_path):
    """On a shared machine (Celery, the stub) a preview someone waits for outruns a long sweep."""
    sweep_dir, preview_dir = tmp_path / "sweep", tmp_path / "preview"
    sweep_dir.mkdir(), preview_dir.mkdir()
    sweep = _runner_niceness_while(lambda: compute.mesh_from_file(parts["plate_with_hole"], SMALL, sweep_dir), sweep_dir)
    preview = _runner_niceness_while(lambda: compute.preview_from_file(parts["plate_with_hole"], None, preview_dir),
                                     preview_dir)

    assert compute.SWEEP_NICENESS in sweep  # (a runner is seen at 0 for the moment before it lowers itself)
    assert preview == {0}


def test_gmsh_dies_with_a_killed_worker(parts, tmp_path):
    """A hard-killed caller (a Celery time limit, a lost container) leaves no Gmsh process behind."""
    import signal
    import subprocess
    import sys
    import time

    code = (
        "import sys; from pathlib import Path; from meshing import compute; "
        "compute.mesh_from_file(Path(sys.argv[1]), {'algorithm': 'mmg3d', 'target_size': 0.4}, Path(sys.argv[2]))"
    )
    caller = subprocess.Popen([sys.executable, "-c", code, str(parts["cube"]), str(tmp_path)], cwd=Path(compute.__file__).parents[1])

    def runners():
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and str(tmp_path) in (entry / "cmdline").read_text():
                    found.append(int(entry.name))
            except OSError:
                pass
        return [pid for pid in found if pid != caller.pid]

    deadline = time.monotonic() + 20
    while not (tmp_path / "strategy-mmg3d.request.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert runners(), "the Gmsh runner should be running"
    caller.send_signal(signal.SIGKILL)
    caller.wait()
    deadline = time.monotonic() + 5
    while runners() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runners() == []


# --- the handlers, through URLs -------------------------------------------------------------


class _Storage(BaseHTTPRequestHandler):
    """GET serves inputs, PUT stores artifacts, POST records callback events."""

    files: dict = {}
    events: list = []

    def do_GET(self):
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write(body or b"")

    def do_PUT(self):
        self.files[self.path] = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.end_headers()

    def do_POST(self):
        self.events.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def storage_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Storage)
    _Storage.files, _Storage.events = {}, []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", _Storage
    server.shutdown()


def test_generate_mesh_handler_uploads_artifacts_and_streams_logs(parts, storage_server):
    base, store = storage_server
    store.files["/in/plate.step"] = parts["plate_with_hole"].read_bytes()
    output = compute.generate_mesh(
        source_url=f"{base}/in/plate.step",
        filename="plate.step",
        params={"algorithm": "delaunay", "time_budget": 60},
        callback_url=f"{base}/callback",
        callback_key="k",
        attempt_id=1,
        upload_urls={"msh": f"{base}/out/m.msh", "result": f"{base}/out/r.json", "quality": f"{base}/out/q.json"},
    )
    assert output["uploaded"] == ["msh", "result", "quality"]
    assert store.files["/out/m.msh"].startswith(b"$MeshFormat")
    assert json.loads(store.files["/out/r.json"])["elements"] == output["elements"]
    logs = "\n".join(e["data"]["message"] for e in store.events if e["type"] == "log")
    assert "Meshing 3D" in logs  # Gmsh's own log lines, streamed while it ran
    assert any(e["type"] == "progress" and e["data"]["label"].startswith("strategy") for e in store.events)


def test_generate_preview_handler_uploads_the_preview(parts, storage_server):
    base, store = storage_server
    store.files["/in/cube.stl"] = parts["cube"].read_bytes()
    output = compute.generate_preview_mesh(
        source_url=f"{base}/in/cube.stl", filename="cube.stl", upload_urls={"preview": f"{base}/out/p.json"}
    )
    assert output["uploaded"] is True
    assert json.loads(store.files["/out/p.json"])["triangle_count"] == output["triangle_count"]
