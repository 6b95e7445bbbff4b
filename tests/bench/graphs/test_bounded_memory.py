"""Validation and graph building take memory in proportion to atoms x neighbours, not to the cell volume or to
the widened cutoff. The large cells run in a subprocess under an address-space limit, so a regression fails
with MemoryError there instead of taking the machine down."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from bench.graphs import build_graph
from bench.graphs.neighbors import MAX_IMAGE_POINTS, NeighborSearchError, knn_within_cutoff, periodic_neighbors

REPO = Path(__file__).resolve().parents[3]


def sheet(vacuum: float) -> Structure:
    """A sparse two-site sheet: 8 neighbours within 8 Å, so the rule widens the cutoff to the vacuum axis."""
    return Structure(Lattice.orthorhombic(6.0, 6.5, vacuum), ["Mo", "S"],
                     [[0, 0, vacuum / 2], [3.0, 3.25, vacuum / 2 + 1.5]], coords_are_cartesian=True)


# Today: a = 1000 Å made validation's neighbour search ask for 27 GB; a 20,000 Å vacuum made the widened cutoff
# list ~10^8 in-plane neighbours. Both must now run in well under 1 GiB above the interpreter's own footprint.
SCRIPT = textwrap.dedent("""
    import resource
    from pymatgen.core import Lattice, Structure
    from bench.structures import validate_structure
    from bench.graphs import build_graph

    def sheet(c):
        return Structure(Lattice.orthorhombic(6.0, 6.5, c), ["Mo", "S"], [[0, 0, c / 2], [3.0, 3.25, c / 2 + 1.5]],
                         coords_are_cartesian=True)

    cases = {
        "cube1000": Structure(Lattice.cubic(1000.0), ["Si", "Si"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
        "dimer1e5": Structure(Lattice.cubic(1e5), ["N", "N"], [[0, 0, 0], [1.1e-5, 0, 0]]),
        "sheet20000": sheet(20000.0),
    }
    vm = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (vm + (1 << 30), vm + (1 << 30)))
    for name, s in cases.items():
        validate_structure(s, source=name)
        g = build_graph(s)
        print(name, g.edge_index.shape[1], flush=True)
""")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc for the memory limit")
def test_huge_cells_validate_and_build_in_bounded_memory():
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    edges = dict(line.split() for line in proc.stdout.splitlines())
    # cube: each site keeps the 8 images of the other at 866 Å and its 6 own images at 1000 Å (ties kept):
    # 8 shared bonds + 2 x 6 self-image bonds (n and -n are distinct edges) = 20 undirected, 40 directed.
    # dimer: the partner at 1.1 Å, its images at 1e5 - 1.1 Å and 4 at 1e5 + 6e-6 Å, 6 own images at 1e5 Å
    # (12 exactly; 1e5 + 1.1 Å is past the tie tolerance): 6 + 2 x 6 = 18 undirected, 36 directed.
    # sheet: as with a 30 Å vacuum (the next test), 40 directed.
    assert edges == {"cube1000": "40", "dimer1e5": "36", "sheet20000": "40"}


def test_vacuum_does_not_change_the_graph_of_a_sheet():
    """The widened cutoff only truncates: a 30 Å and a 1000 Å vacuum give the same bonds (20,000 Å runs in the
    memory-limited subprocess above: in this process a regression could exhaust the machine)."""
    ref = build_graph(sheet(30.0))
    for vacuum in (1000.0,):
        g = build_graph(sheet(vacuum))
        assert np.array_equal(g.edge_index, ref.edge_index)
        assert np.array_equal(g.edge_image, ref.edge_image)
        assert np.allclose(g.edge_vec, ref.edge_vec, atol=1e-4)
        assert np.array_equal(g.lg_index, ref.lg_index)
    # and the cutoff reported is the rule's (the longest lattice vector), though it was never searched
    assert knn_within_cutoff(sheet(1000.0))[3] == 1000.0


def test_neighbour_images_follow_unwrapped_coordinates():
    """Images are relative to the coordinates as given (outside [0, 1) included), as pymatgen reports them."""
    s = Structure(Lattice.cubic(3.0), ["Cu", "Cu"], [[-0.1, 0.0, 0.0], [1.3, 0.5, 0.5]])
    center, nbr, image, dist = periodic_neighbors(s, 3.5)
    frac, lat = s.frac_coords, s.lattice.matrix
    recomputed = np.linalg.norm((frac[nbr] + image - frac[center]) @ lat, axis=1)
    assert np.allclose(recomputed, dist)
    ref = s.get_neighbor_list(3.5)
    assert sorted(zip(center, nbr, map(tuple, image))) == sorted(zip(ref[0], ref[1], map(tuple, ref[2].astype(int))))


def test_a_cell_too_thin_for_the_search_is_an_error_not_an_allocation():
    # 1e-5 Å along c: an 8 Å search would need 1.6 million images of the site in that direction alone
    s = Structure(Lattice.orthorhombic(10.0, 10.0, 1e-5), ["Si"], [[0, 0, 0]])
    with pytest.raises(NeighborSearchError, match="periodic image points"):
        periodic_neighbors(s, 8.0)
    assert MAX_IMAGE_POINTS <= 10_000_000


def test_validation_names_the_entry_when_a_cell_is_too_thin_to_search():
    from bench.structures import StructureError, validate_structure

    s = Structure(Lattice.orthorhombic(10.0, 10.0, 1e-7), ["Si"], [[0, 0, 0]])
    with pytest.raises(StructureError, match=r"^thin\.cif: a neighbour search to 0\.5 Å needs .* periodic image "
                                             r"points \(lattice lengths 10, 10, 1e-07 Å\): the cell is too thin"):
        validate_structure(s, source="thin.cif")


def test_fewer_image_points_than_neighbours_asked_for():
    """A lone atom in a huge cell, 40 neighbours asked: the search widens instead of indexing past its points."""
    s = Structure(Lattice.cubic(1000.0), ["Cu"], [[0, 0, 0]])
    center, nbr, image, cutoff = knn_within_cutoff(s, 8.0, 40)
    assert len(center) >= 40 and cutoff == 4000.0
