import multiprocessing as mp

import torch

from bench.graphs.build import GraphParams, build_graph, structure_fingerprint
from bench.graphs.cache import GraphCache


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in ("z", "edge_index", "edge_image", "edge_vec", "lg_index"))


def test_hit_after_miss(tmp_path, piezo_structures):
    cache = GraphCache(tmp_path)
    s = piezo_structures[3]
    first = cache.get(s)
    second = cache.get(s)
    assert (cache.misses, cache.hits) == (1, 1)
    assert _same(first, second) and _same(first, build_graph(s))


def test_corrupt_entry_is_detected_and_rebuilt(tmp_path, piezo_structures, caplog):
    cache = GraphCache(tmp_path)
    s = piezo_structures[4]
    good = cache.get(s)
    path = cache.path(structure_fingerprint(s))
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # flip one byte in the payload
    path.write_bytes(bytes(blob))
    again = GraphCache(tmp_path)
    rebuilt = again.get(s)
    assert again.rebuilt == 1 and _same(good, rebuilt)
    assert "corrupt" in caplog.text
    # the rebuilt entry is valid again
    third = GraphCache(tmp_path)
    third.get(s)
    assert third.hits == 1


def test_truncated_entry_is_rebuilt(tmp_path, piezo_structures):
    cache = GraphCache(tmp_path)
    s = piezo_structures[5]
    cache.get(s)
    path = cache.path(structure_fingerprint(s))
    path.write_bytes(path.read_bytes()[:20])
    again = GraphCache(tmp_path)
    again.get(s)
    assert again.rebuilt == 1


def test_other_graph_rule_never_shares_entries(tmp_path, piezo_structures):
    s = piezo_structures[6]
    a = GraphCache(tmp_path, GraphParams(cutoff=8.0, max_neighbors=12))
    b = GraphCache(tmp_path, GraphParams(cutoff=8.0, max_neighbors=8))
    ga, gb = a.get(s), b.get(s)
    assert a.root != b.root and b.misses == 1
    assert gb.edge_index.size(1) <= ga.edge_index.size(1)


def test_entry_of_another_structure_is_rejected(tmp_path, piezo_structures):
    cache = GraphCache(tmp_path)
    s1, s2 = piezo_structures[7], piezo_structures[8]
    cache.get(s1)
    # a stale entry placed under s2's key (e.g. copied by hand) must not be served
    cache.path(structure_fingerprint(s2)).parent.mkdir(parents=True, exist_ok=True)
    cache.path(structure_fingerprint(s2)).write_bytes(cache.path(structure_fingerprint(s1)).read_bytes())
    fresh = GraphCache(tmp_path)
    assert _same(fresh.get(s2), build_graph(s2)) and fresh.rebuilt == 1


def _writer(root, structure, n):
    cache = GraphCache(root)
    for _ in range(n):
        cache._write(cache.path(structure_fingerprint(structure)), structure_fingerprint(structure),
                     build_graph(structure))


def test_concurrent_writers_never_expose_partial_entries(tmp_path, piezo_structures):
    s = max(piezo_structures, key=len)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(tmp_path, s, 30)) for _ in range(2)]
    for p in procs:
        p.start()
    reader = GraphCache(tmp_path)
    reference = build_graph(s)
    reads = 0
    while any(p.is_alive() for p in procs):
        if reader.path(structure_fingerprint(s)).exists():
            assert _same(reader.get(s), reference)
            reads += 1
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert reader.rebuilt == 0, "a reader saw a half-written entry"
    assert not list(reader.root.rglob(".tmp-*")), "temporary files left behind"
