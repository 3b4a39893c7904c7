"""One Gmsh run, in its own process: `python gmsh_runner.py REQUEST.json RESPONSE.json`.

Gmsh is a process-wide singleton that segfaults on some malformed STEP files and
must not be used from two threads at once, so meshing/compute.py starts this
script as a fresh subprocess for every run (inspect, preview, one 3D strategy)
and kills it at its timeout. Results travel through files only: Gmsh, MMG and
OpenCASCADE print to stdout, so the process's stdout and stderr go to the run's
log file, next to Gmsh's own log (`-log`), and the response is a JSON file.

Self-contained on purpose (imports only gmsh, numpy and the standard library) so
that it starts fast and runs the same in Modal, Celery and the stub worker.
"""
from __future__ import annotations

import os
import sys

# Run by path, Python puts this file's folder first on sys.path, where the app's own
# selectors.py would shadow the standard library's `selectors` module. Drop it.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

# One thread for the numeric libraries too, set before anything loads them (gmsh.py imports
# numpy). OpenBLAS otherwise starts a thread per core when numpy loads, and those threads spin
# while they wait: every run took a second core (0.56 s of CPU for a 0.37 s preview) and two
# runs side by side - a preview and a sweep - slowed each other down. Gmsh itself runs on one
# thread (General.NumThreads below) so that its results are the same everywhere.
SINGLE_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
os.environ.update(dict.fromkeys(SINGLE_THREAD_VARIABLES, "1"))

import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

MSH_FORMAT_VERSION = 4.1
# A 3D element is "poor" below this minSICN / gamma (0 is degenerate, 1 is ideal).
POOR_QUALITY_THRESHOLD = 0.1
HISTOGRAM_BINS = 20
TRIANGLE_3 = 2  # Gmsh element type of a 3-node triangle


class RunFailure(Exception):
    """An expected failure, reported to the parent with a kind and a readable message."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


def main(request_path: str, response_path: str) -> int:
    with open(request_path) as handle:
        request = json.load(handle)
    _die_with_parent(request.get("parent_pid"))
    if request.get("niceness"):
        os.nice(request["niceness"])
    _send_output_to(request["stdout_path"])
    import gmsh  # after the redirect: its library may print while loading

    try:
        gmsh.initialize(["gmsh", "-log", request["log_path"]], readConfigFiles=False, interruptible=False)
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.option.setNumber("General.NumThreads", 1)  # deterministic results
        gmsh.option.setNumber("Mesh.MaxNumThreads1D", 1)
        gmsh.option.setNumber("Mesh.MaxNumThreads2D", 1)
        gmsh.option.setNumber("Mesh.MaxNumThreads3D", 1)
        _keep_flushing_c_streams()
        task = TASKS[request["task"]]
        response = {"ok": True, "result": task(gmsh, request)}
    except RunFailure as failure:
        response = {"ok": False, "error_type": failure.error_type, "message": str(failure)}
    except Exception as exc:  # noqa: BLE001 - Gmsh raises plain Exception with its last error
        response = {"ok": False, "error_type": "gmsh_error", "message": f"Gmsh failed: {exc}"}
    _write_json(response_path, response)
    _flush_c_streams()
    # Skip gmsh.finalize() and interpreter teardown: OpenCASCADE sometimes crashes while
    # tearing down after an error, and the response is already on disk.
    os._exit(0)


def _die_with_parent(parent_pid) -> None:
    """This process runs in a session of its own (so that a timeout can kill its whole group);
    when the worker that started it is killed (a hard timeout, a lost container), it must not
    live on as an orphan eating the CPU. Linux only; elsewhere a no-op."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (AttributeError, OSError):
        return
    if parent_pid and os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _flush_c_streams() -> None:
    """fflush(NULL): write out every C stdio buffer (Gmsh's -log file, MMG's stdout)."""
    import ctypes

    ctypes.CDLL(None).fflush(None)


def _keep_flushing_c_streams(interval: float = 0.5) -> None:
    """Gmsh's log file is block-buffered; flushing it often lets the parent stream it live.

    glibc locks each stream, so flushing from this thread while Gmsh writes is safe.
    """
    import threading

    def loop():
        while True:
            time.sleep(interval)
            _flush_c_streams()

    threading.Thread(target=loop, daemon=True).start()


def _send_output_to(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _write_json(path: str, data) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)


# --- loading ---------------------------------------------------------------------


def load(gmsh, path: str, file_format: str) -> None:
    if file_format in ("step", "iges", "brep"):
        gmsh.model.occ.importShapes(path)
        gmsh.model.occ.synchronize()
        if file_format == "iges" and not gmsh.model.getEntities(3):
            solid_from_faces(gmsh)
    else:
        gmsh.merge(path)
    if not gmsh.model.getEntities():
        raise RunFailure("bad_input", "Gmsh read the file but found no geometry in it")


def solid_from_faces(gmsh) -> None:
    """IGES usually carries trimmed faces, not solids: sew them into one closed volume if they close."""
    faces = [tag for _dim, tag in gmsh.model.getEntities(2)]
    try:
        loop = gmsh.model.occ.addSurfaceLoop(faces, sewing=True)
        volume = gmsh.model.occ.addVolume([loop])
        gmsh.model.occ.synchronize()
        if gmsh.model.occ.getMass(3, volume) <= 0:
            raise ValueError("the sewn faces enclose no volume")
    except Exception:  # noqa: BLE001 - left as faces: the 3D mesh then reports "no solid volume"
        gmsh.model.occ.remove(gmsh.model.getEntities(3))
        gmsh.model.occ.synchronize()


def bounding_box(gmsh) -> list[float]:
    return [round(v, 9) for v in gmsh.model.getBoundingBox(-1, -1)]


def inspect(gmsh, request) -> dict:
    load(gmsh, request["input_path"], request["format"])
    volumes = gmsh.model.getEntities(3)
    total_volume = 0.0
    if request["format"] in ("step", "iges", "brep"):
        total_volume = sum(gmsh.model.occ.getMass(3, tag) for _dim, tag in volumes)
    else:
        total_volume = enclosed_volume(gmsh)
    box = bounding_box(gmsh)
    return {
        "volumes": len(volumes),
        "surfaces": len(gmsh.model.getEntities(2)),
        "curves": len(gmsh.model.getEntities(1)),
        "bbox": box,
        "diagonal": math.dist(box[:3], box[3:]),
        "volume": total_volume,
    }


def enclosed_volume(gmsh) -> float:
    """Volume inside a triangulated skin (divergence theorem); only meaningful when it is closed."""
    import numpy as np

    node_tags, coords, _ = gmsh.model.mesh.getNodes()
    _triangle_tags, tri_nodes = gmsh.model.mesh.getElementsByType(TRIANGLE_3)
    if len(tri_nodes) == 0:
        return 0.0
    index_of = np.zeros(int(node_tags.max()) + 1, dtype=np.int64)
    index_of[node_tags] = np.arange(len(node_tags))
    points = np.asarray(coords).reshape(-1, 3)[index_of[np.asarray(tri_nodes, dtype=np.int64)]].reshape(-1, 3, 3)
    return float(abs(np.einsum("ij,ij->i", points[:, 0], np.cross(points[:, 1], points[:, 2])).sum()) / 6)


def make_volume_from_surface_mesh(gmsh) -> None:
    """An STL is a closed triangulated skin at best: turn it into a meshable volume."""
    gmsh.model.mesh.classifySurfaces(40 * math.pi / 180, True, True, math.pi)
    gmsh.model.mesh.createGeometry()
    surfaces = [tag for _dim, tag in gmsh.model.getEntities(2)]
    loop = gmsh.model.geo.addSurfaceLoop(surfaces)
    gmsh.model.geo.addVolume([loop])
    gmsh.model.geo.synchronize()


# --- preview ---------------------------------------------------------------------


def preview(gmsh, request) -> dict:
    import numpy as np

    load(gmsh, request["input_path"], request["format"])
    if request["format"] != "stl":  # an STL already is a triangulation
        size = request["size"]
        gmsh.option.setNumber("Mesh.MeshSizeMax", size)
        gmsh.option.setNumber("Mesh.MeshSizeMin", size / 10)
        gmsh.option.setNumber("Mesh.Algorithm", 6)
        gmsh.model.mesh.generate(2)
    node_tags, coords, _ = gmsh.model.mesh.getNodes()
    _triangle_tags, tri_nodes = gmsh.model.mesh.getElementsByType(TRIANGLE_3)
    if len(tri_nodes) == 0:
        raise RunFailure("bad_input", "The file has no surfaces to show")
    positions = np.asarray(coords, dtype=np.float64).reshape(-1, 3)
    index_of = np.zeros(int(node_tags.max()) + 1, dtype=np.int64)
    index_of[node_tags] = np.arange(len(node_tags))
    triangles = index_of[np.asarray(tri_nodes, dtype=np.int64)].reshape(-1, 3)
    original = len(triangles)
    positions, triangles = decimate(positions, triangles, request["max_triangles"])
    positions, triangles = compact(positions, triangles)
    digits = request.get("digits", 6)
    data = {
        "format": "mesh-preview/1",
        "positions": [round(float(v), digits) for v in positions.ravel()],
        "indices": [int(i) for i in triangles.ravel()],
        "vertex_count": len(positions),
        "triangle_count": len(triangles),
        "source_triangle_count": original,
        "bbox": bounding_box(gmsh),
    }
    _write_json(request["output_path"], data)
    return {k: data[k] for k in ("vertex_count", "triangle_count", "source_triangle_count", "bbox")}


def decimate(positions, triangles, max_triangles: int):
    """Vertex clustering on a grid that is coarsened until the triangle count fits.

    Crude but robust on any triangle soup (STL or Gmsh surface mesh); a preview
    only needs the silhouette.
    """
    import numpy as np

    if len(triangles) <= max_triangles:
        return positions, triangles
    low, high = positions.min(axis=0), positions.max(axis=0)
    extent = float(max(high - low)) or 1.0
    cells = int(math.sqrt(max_triangles)) * 2
    while cells >= 2:
        keys = np.floor((positions - low) / (extent / cells)).astype(np.int64)
        _, cluster, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
        cluster = cluster.ravel()
        merged = cluster[triangles]
        keep = (merged[:, 0] != merged[:, 1]) & (merged[:, 1] != merged[:, 2]) & (merged[:, 0] != merged[:, 2])
        merged = merged[keep]
        # Drop duplicates, keeping the first one's winding (the orientation of its normal).
        _, first = np.unique(np.sort(merged, axis=1), axis=0, return_index=True)
        if len(first) <= max_triangles:
            centres = np.zeros((len(counts), 3))
            np.add.at(centres, cluster, positions)
            return centres / counts[:, None], merged[np.sort(first)]
        cells = int(cells * 0.8)
    return positions, triangles[:max_triangles]


def compact(positions, triangles):
    import numpy as np

    used, inverse = np.unique(triangles.ravel(), return_inverse=True)
    return positions[used], inverse.reshape(-1, 3)


# --- one 3D strategy -------------------------------------------------------------


def mesh_strategy(gmsh, request) -> dict:
    import numpy as np

    started = time.monotonic()
    load(gmsh, request["input_path"], request["format"])
    if not gmsh.model.getEntities(3):
        if request["format"] != "stl":
            raise RunFailure(
                "bad_input",
                "The file has no solid volume (surfaces only), so it cannot be meshed in 3D",
            )
        try:
            make_volume_from_surface_mesh(gmsh)
        except Exception as exc:  # noqa: BLE001
            raise RunFailure("bad_input", f"The STL surface does not enclose a volume that Gmsh can mesh: {exc}")
    strategy = request["strategy"]
    gmsh.option.setNumber("Mesh.MeshSizeMax", request["size"])
    gmsh.option.setNumber("Mesh.MeshSizeMin", request["size"] / 10)
    gmsh.option.setNumber("Mesh.Algorithm", 6)  # Frontal-Delaunay surfaces for every strategy
    gmsh.option.setNumber("Mesh.Algorithm3D", strategy["algorithm3d"])
    gmsh.option.setNumber("Mesh.MshFileVersion", MSH_FORMAT_VERSION)
    gmsh.model.mesh.generate(3)
    if strategy.get("optimizer") == "netgen":
        gmsh.model.mesh.optimize("Netgen")
    if request["order"] > 1:  # after optimising: the optimisers work on linear elements
        gmsh.model.mesh.setOrder(request["order"])
    element_tags = np.concatenate([np.asarray(t, dtype=np.int64) for t in gmsh.model.mesh.getElements(3)[1]] or [[]])
    if len(element_tags) == 0:
        raise RunFailure("gmsh_error", "Gmsh produced no 3D elements")
    if len(element_tags) > request["max_elements"]:
        raise RunFailure(
            "over_budget",
            f"The mesh has {len(element_tags)} elements, above the limit of {request['max_elements']}",
        )
    mesh_seconds = time.monotonic() - started
    min_sicn = np.asarray(gmsh.model.mesh.getElementQualities(element_tags, "minSICN"))
    gamma = np.asarray(gmsh.model.mesh.getElementQualities(element_tags, "gamma"))
    gmsh.write(request["output_path"])
    node_count = len(gmsh.model.mesh.getNodes()[0])
    return {
        "elements": int(len(element_tags)),
        "nodes": int(node_count),
        "min_sicn": metric_stats(min_sicn, -1.0, 1.0),
        "gamma": metric_stats(gamma, 0.0, 1.0),
        "inverted": int((min_sicn < 0).sum()),
        "mesh_seconds": round(mesh_seconds, 3),
    }


def metric_stats(values, low: float, high: float) -> dict:
    import numpy as np

    counts, edges = np.histogram(np.clip(values, low, high), bins=HISTOGRAM_BINS, range=(low, high))
    return {
        "min": round(float(values.min()), 6),
        "max": round(float(values.max()), 6),
        "mean": round(float(values.mean()), 6),
        "p05": round(float(np.percentile(values, 5)), 6),
        "poor_share": round(float((values < POOR_QUALITY_THRESHOLD).mean()), 6),
        "histogram": {"edges": [round(float(e), 6) for e in edges], "counts": [int(c) for c in counts]},
    }


TASKS = {"inspect": inspect, "preview": preview, "mesh": mesh_strategy}

if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
