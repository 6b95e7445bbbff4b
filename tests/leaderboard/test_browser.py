"""The built leaderboard in a real browser: headless Chromium (Debian package ``chromium``) renders the pages,
runs their script, and takes screenshots (saved in pytest's tmp dir; the paths are printed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from leaderboard.build import build_site
from tests.leaderboard.test_build import gv_records, pz_records, write_records, write_reference

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless browser test needs Chromium: "
                                "`apt-get install -y chromium` (Debian) puts `chromium` on PATH")
WIDTH, HEIGHT = 1280, 2000


def chromium(profile: Path, *args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    results = write_records(root / "results", pz_records() + gv_records())
    build_site(results, root / "site", write_reference(root / "reference.csv"))
    return root / "site"


@pytest.fixture
def profile(tmp_path) -> Path:
    return tmp_path / "chromium-profile"


def screenshot(page: Path, shot: Path, profile: Path) -> Path:
    proc = chromium(profile, f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", page.as_uri())
    assert shot.exists(), f"no screenshot from chromium (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    print(f"\nscreenshot of {page.name}: {shot}")
    return shot


def assert_not_blank(shot: Path) -> None:
    from PIL import Image

    with Image.open(shot) as im:
        rgb = im.convert("RGB")
        assert rgb.size == (WIDTH, HEIGHT)
        colours = rgb.getcolors(maxcolors=1 << 22)
        small = rgb.resize((128, 200))
    assert colours is not None and len(colours) > 300, f"{shot}: only {len(colours or [])} colours, looks blank"
    non_white = sum(1 for px in small.getdata() if sum(px) < 3 * 235)
    assert non_white > 0.05 * 128 * 200, f"{shot}: almost entirely white"


def dump_dom(url: str, profile: Path) -> str:
    proc = chromium(profile, "--dump-dom", "--virtual-time-budget=10000", url)
    assert proc.returncode == 0 and "<html" in proc.stdout, proc.stderr[-3000:]
    return proc.stdout


def test_index_renders(site, profile, tmp_path):
    assert_not_blank(screenshot(site / "index.html", tmp_path / "index.png", profile))
    dom = dump_dom((site / "index.html").as_uri(), profile)
    assert 'data-sortable="ready"' in dom  # the script ran without breaking
    assert dom.count('class="plot heatmap"') == 2 and 'data-plots-rendered="2/2"' in dom
    for task in ("devi2024-pz", "devi2024-gv", "devi2024-2d"):
        assert f'href="{task}.html"' in dom


def test_task_page_renders_tables_and_plots(site, profile, tmp_path):
    page = site / "devi2024-pz.html"
    assert_not_blank(screenshot(page, tmp_path / "devi2024-pz.png", profile))
    dom = dump_dom(page.as_uri(), profile)
    assert 'data-sortable="ready"' in dom
    assert len(re.findall(r'<tr class="run">', dom)) == 3
    assert len(re.findall(r'<tr class="paper">', dom)) == 3
    assert len(re.findall(r'class="num best"', dom)) == 3  # one per FT size column with runs
    assert len(re.findall(r"<img [^>]*class=\"plot", dom)) == 2
    assert 'data-plots-rendered="2/2"' in dom  # both PNGs loaded from file://


def test_sorting_in_browser(site, profile):
    page = site / "devi2024-pz.html"
    default = dump_dom(page.as_uri(), profile)
    run_labels = lambda dom: re.findall(r'<tr class="run"><td>[^<]*</td><td class="label"[^>]*>([^<]*)<', dom)
    paper_labels = lambda dom: re.findall(r'<tr class="paper"><td>[^<]*</td><td class="label"[^>]*>([^<]*)<', dom)
    assert [x.split(" ")[0] for x in run_labels(default)] == ["scratch", "ptft", "mpt"]
    # column 3 is N = 10 (MAE): ascending puts the best first; each tbody (ours, the paper's) sorts on its own
    ascending = dump_dom(page.as_uri() + "#sort=3", profile)
    assert [x.split(" ")[0] for x in run_labels(ascending)] == ["mpt", "ptft", "scratch"]
    assert [x.split(" ")[1] for x in paper_labels(ascending)] == ["mpt", "ptft", "scratch"]
    assert 'aria-sort="ascending"' in ascending
    descending = dump_dom(page.as_uri() + "#sort=3-desc", profile)
    assert [x.split(" ")[0] for x in run_labels(descending)] == ["scratch", "ptft", "mpt"]
    # a text column sorts too, and the page keeps its plots
    by_strategy = dump_dom(page.as_uri() + "#sort=1", profile)
    assert [x.split(" ")[0] for x in run_labels(by_strategy)] == ["mpt", "ptft", "scratch"]
    assert 'data-plots-rendered="2/2"' in by_strategy


@pytest.fixture(scope="module")
def compare_report(tmp_path_factory) -> Path:
    """`bench compare`'s page (bench/compare/report.py) for three candidates at three FT sizes, from records."""
    from bench.compare.report import command_line, write_report
    from tests.bench.test_compare import synthetic_result

    root = tmp_path_factory.mktemp("compare-browser")
    result = synthetic_result(root / "records")
    return write_report(result, root / "report", command_line(result))


def test_compare_report_renders_its_tables_and_plots(compare_report, profile, tmp_path):
    assert_not_blank(screenshot(compare_report, tmp_path / "compare.png", profile))
    dom = dump_dom(compare_report.as_uri(), profile)
    assert 'data-sortable="ready"' in dom  # the leaderboard's script ran on the page
    assert len(re.findall(r'<tr class="candidate">', dom)) == 9  # 3 candidates × 3 FT sizes
    assert dom.count('class="recommendation"') == 3
    assert 'data-plots-rendered="2/2"' in dom  # parity and learning curve loaded from file://


@pytest.fixture(scope="module")
def mixed_site(tmp_path_factory) -> Path:
    from tests.leaderboard.test_backbones import cgcnn_records

    root = tmp_path_factory.mktemp("browser-backbones")
    build_site(write_records(root / "results", pz_records() + cgcnn_records()), root / "site", None)
    return root / "site"


def _run_rows(dom: str) -> list[tuple[str, bool, int]]:
    """(backbone, hidden, number of ★ cells) of each of this suite's rows in the main table."""
    main = dom.split('id="leaderboard"', 1)[1].split("</table>", 1)[0]
    out = []
    for chunk in main.split("<tr class=\"run\"")[1:]:
        m = re.match(r'( hidden="")?><td>([^<]*)</td>', chunk)
        out.append((m.group(2), bool(m.group(1)), chunk.split("</tr>", 1)[0].count('class="num best"')))
    return out


def test_backbone_filter_from_the_url_fragment(mixed_site, profile):
    page = mixed_site / "devi2024-pz.html"
    everything = _run_rows(dump_dom(page.as_uri(), profile))
    assert [b for b, _, _ in everything] == ["alignn", "cgcnn"] * 2 + ["alignn"]  # scratch, ptft, mpt
    assert not any(hidden for _, hidden, _ in everything)
    assert sum(stars for b, _, stars in everything if b == "alignn") == 3  # best over all backbones: ALIGNN
    dom = dump_dom(page.as_uri() + "#backbone=cgcnn", profile)
    assert 'data-backbone-filter="cgcnn"' in dom and 'data-sortable="ready"' in dom
    rows = _run_rows(dom)
    assert sorted((b, hidden) for b, hidden, _ in rows) == [("alignn", True)] * 3 + [("cgcnn", False)] * 2
    # the star moved to the best cgcnn row (ptft) in its only column, N = 800
    assert [(b, stars) for b, hidden, stars in rows if not hidden] == [("cgcnn", 0), ("cgcnn", 1)]
    unknown = _run_rows(dump_dom(page.as_uri() + "#backbone=nosuch", profile))
    assert not any(hidden for _, hidden, _ in unknown)  # an unknown name shows everything


def test_replication_page_renders(site, profile, tmp_path):
    page = site / "replication.html"
    assert_not_blank(screenshot(page, tmp_path / "replication.png", profile))
    dom = dump_dom(page.as_uri(), profile)
    assert 'data-sortable="ready"' in dom
    assert len(re.findall(r'<tr class="claim"><td><a href="#claim-[a-f]">', dom)) == 6
    # pz_records: three FT sizes and three trials of scratch, ptft and mpt make claims (a), (b) and (d) testable
    assert len(re.findall(r'<tr class="comparison (supports|contradicts|inconclusive|too-few-trials)">', dom)) >= 4
    assert dom.count("Not tested: no records of the cells it needs") == 3  # (c), (e), (f)
    index = dump_dom((site / "index.html").as_uri(), profile)
    assert 'href="replication.html"' in index


@pytest.fixture(scope="module")
def committed_site(tmp_path_factory) -> Path:
    from leaderboard.build import DEFAULT_RESULTS

    root = tmp_path_factory.mktemp("committed")
    build_site(DEFAULT_RESULTS, root / "site")
    return root / "site"


@pytest.mark.parametrize("code", ["gv", "ph", "dc", "pz", "ebg", "2d"])
def test_committed_records_render_learning_curves_for_every_target(committed_site, profile, code):
    """The site as built from leaderboard/results/: each of the paper's six targets has its learning curves (this
    suite's beside the paper's), loaded in the browser; the replication page lists the six claims."""
    page = committed_site / f"devi2024-{code}.html"
    dom = dump_dom(page.as_uri(), profile)
    assert f'<img src="img/devi2024-{code}-learning-curves.png"' in dom
    shown = re.search(r'data-plots-rendered="(\d+)/(\d+)"', dom)
    assert shown and shown.group(1) == shown.group(2) and int(shown.group(2)) >= 1, "a plot failed to load"
    assert len(re.findall(r'<tr class="run">', dom)) >= 2  # at least scratch and one transfer arm
    replication = dump_dom((committed_site / "replication.html").as_uri(), profile) if code == "gv" else ""
    if replication:
        assert len(re.findall(r'<tr class="claim"><td><a href="#claim-[a-f]">', replication)) == 6
