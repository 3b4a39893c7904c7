"""Compute functions of the meshing app (framework-free declarations).

portal/modal_app.py builds the Modal functions from these; the stub worker and
Celery run the same handlers. The full mesh may run on a GPU (seed 002 used a
T4) when MESH_GPU names one; Gmsh itself is CPU-bound, so CPU is the default.

Both run their handler in the container's own process (`isolated=False`): the
core already runs every Gmsh step in a subprocess with a timeout, so a forked
child per call would only add its start-up to each call (a tenth of a preview's
portal overhead).
"""
from portal.compute_functions import ComputeFunction, env_gpu, env_int

# Gmsh's wheel links against X/OpenGL libraries even when nothing is drawn.
GMSH_APT_PACKAGES = ("libglu1-mesa", "libgl1", "libxrender1", "libxcursor1", "libxft2", "libxinerama1")
GMSH_PIP_PACKAGES = ("gmsh==4.15.2", "numpy==2.4.6", "tenacity==9.2.1")

FUNCTIONS = [
    ComputeFunction(
        name="generate_mesh",
        handler="meshing.compute:generate_mesh",
        # The sweep stops itself at the job's time budget (at most 3600 s); the margin covers
        # download, upload and the last strategy's clean-up.
        timeout=env_int("MESH_FUNCTION_TIMEOUT", 3900),
        # A crash or timeout of the sweep is not fixed by running it again on the same input.
        retries=0,
        max_containers=env_int("MESH_MAX_CONTAINERS", 50),
        memory=env_int("MESH_MEMORY_MIB", 8192),
        cpu=2.0,
        gpu=env_gpu("MESH_GPU"),
        pip_packages=GMSH_PIP_PACKAGES,
        apt_packages=GMSH_APT_PACKAGES,
        isolated=False,
    ),
    ComputeFunction(
        name="generate_preview_mesh",
        handler="meshing.compute:generate_preview_mesh",
        timeout=env_int("MESH_PREVIEW_FUNCTION_TIMEOUT", 300),
        retries=1,  # a preview is cheap; one retry covers a lost container
        max_containers=env_int("MESH_PREVIEW_MAX_CONTAINERS", 50),
        memory=2048,
        cpu=1.0,
        pip_packages=GMSH_PIP_PACKAGES,
        apt_packages=GMSH_APT_PACKAGES,
        isolated=False,
    ),
]
