"""Reference CAD parts built with Gmsh's OpenCASCADE kernel, written as STEP/STL.

Built in a subprocess so that the test process never holds the Gmsh singleton.
"""
import subprocess
import sys
import textwrap
from pathlib import Path

_BUILD = textwrap.dedent(
    """
    import sys, gmsh
    out = sys.argv[1]
    gmsh.initialize(["gmsh"], readConfigFiles=False, interruptible=False)
    gmsh.option.setNumber("General.Terminal", 0)

    def save(*names):
        gmsh.model.occ.synchronize()
        for name in names:
            gmsh.write(f"{out}/{name}")
        gmsh.clear()

    # A 40 x 30 x 5 plate with a hole of radius 6 through its middle.
    plate = gmsh.model.occ.addBox(0, 0, 0, 40, 30, 5)
    hole = gmsh.model.occ.addCylinder(20, 15, -1, 0, 0, 7, 6)
    gmsh.model.occ.cut([(3, plate)], [(3, hole)])
    save("plate_with_hole.step", "plate_with_hole.igs", "plate_with_hole.brep")

    # An L-bracket: two 4 mm thick legs, 30 mm long, 20 mm wide.
    base = gmsh.model.occ.addBox(0, 0, 0, 30, 20, 4)
    leg = gmsh.model.occ.addBox(0, 0, 0, 4, 20, 30)
    gmsh.model.occ.fuse([(3, base)], [(3, leg)])
    save("l_bracket.step")

    # Surfaces only: a single rectangle, no volume.
    gmsh.model.occ.addRectangle(0, 0, 0, 10, 5)
    save("surface_only.step")

    # A closed STL skin of a 10 mm cube.
    gmsh.model.occ.addBox(0, 0, 0, 10, 10, 10)
    gmsh.model.occ.synchronize()
    gmsh.option.setNumber("Mesh.MeshSizeMax", 2.5)
    gmsh.model.mesh.generate(2)
    gmsh.option.setNumber("Mesh.Binary", 1)
    gmsh.write(f"{out}/cube.stl")
    gmsh.finalize()
    """
)


def build_parts(directory: Path) -> dict[str, Path]:
    subprocess.run([sys.executable, "-c", _BUILD, str(directory)], check=True, capture_output=True, timeout=120)
    names = ("plate_with_hole.step", "l_bracket.step", "surface_only.step", "cube.stl")
    parts = {name.split(".")[0]: directory / name for name in names}
    parts["plate_iges"] = directory / "plate_with_hole.igs"
    parts["plate_brep"] = directory / "plate_with_hole.brep"
    return parts
