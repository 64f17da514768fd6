"""The example's search page in a real headless Chromium, driven by Selenium.

Needs Debian's ``chromium`` and ``chromium-driver`` packages and ``selenium``; skipped with
the reason when any is missing. The browser never leaves the loopback interface.
"""

from __future__ import annotations

import re
import shutil

import pytest

from tests.example_helpers import (
    example_site,  # noqa: F401  (fixture)
    requires_example_app,
)

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM = next(filter(None, map(shutil.which, ["chromium", "chromium-browser"])), None)
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1024",
]
SOURCES = ("argparse", "csv", "gzip", "json", "json.decoder", "json.encoder")

pytestmark = [
    requires_example_app,
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="needs Chromium and ChromeDriver: apt-get install -y chromium chromium-driver",
    ),
    pytest.mark.usefixtures("example_site", "transactional_db"),
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    # An explicit driver path: Selenium then neither looks for nor downloads one.
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def corpus_slice():
    """About fifty real documents: the docstrings of a few modules, embedded like the demo."""
    from example_project.documents.corpus import iter_corpus
    from example_project.documents.models import Document

    entries = [e for e in iter_corpus() if e.source in SOURCES][:50]
    return Document.objects.bulk_create(Document(**vars(entry)) for entry in entries)


def wait(driver, condition, timeout=15):
    return WebDriverWait(driver, timeout).until(condition)


def choose_mode(driver, label):
    """Click the mode's label, as a user would; its radio button must then be on."""
    xpath = f"//fieldset[@class='modes']//label[normalize-space()='{label}']"
    choice = driver.find_element(By.XPATH, xpath)
    choice.click()
    assert driver.find_element(By.ID, choice.get_attribute("for")).is_selected()


def submit(driver):
    """Submit the search form and wait for the new page (not the old page's summary)."""
    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, "form.search button[type=submit]").click()
    wait(driver, EC.staleness_of(page))
    wait(driver, EC.presence_of_element_located((By.ID, "summary")))


def score_texts(driver):
    """Each result's main score as the page prints it."""
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#results .score-value")]


def results(driver, container="#results"):
    """(title, score) for each result shown, in page order."""
    items = driver.find_elements(By.CSS_SELECTOR, f"{container} li.result")
    return [
        (
            item.find_element(By.CSS_SELECTOR, ".result-title a").text,
            float(item.find_element(By.CSS_SELECTOR, ".score-value").text),
        )
        for item in items
    ]


def test_search_open_a_result_and_see_similar_documents(browser, live_server, corpus_slice):
    browser.get(live_server.url + "/")
    assert f"{len(corpus_slice)} documents indexed" in browser.page_source

    box = browser.find_element(By.NAME, "q")
    box.send_keys("read and write CSV files", Keys.ENTER)
    wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, "#results li.result")))

    shown = results(browser)
    assert len(shown) == 10
    assert all(title.startswith("csv") for title, _ in shown[:3])
    scores = [score for _, score in shown]
    assert scores == sorted(scores, reverse=True)
    assert 0 < scores[-1] <= scores[0] <= 1
    assert "best first" in browser.find_element(By.ID, "summary").text

    first_title = shown[0][0]
    browser.find_element(By.LINK_TEXT, first_title).click()
    wait(browser, EC.text_to_be_present_in_element((By.ID, "document-title"), first_title))

    similar = results(browser, container="#similar")
    assert 1 <= len(similar) <= 5
    assert first_title not in [title for title, _ in similar]
    assert similar[0][0].startswith("csv")
    similar_scores = [score for _, score in similar]
    assert similar_scores == sorted(similar_scores, reverse=True)


def test_filters_and_threshold_narrow_the_results(browser, live_server, corpus_slice):
    browser.get(live_server.url + "/")
    browser.find_element(By.NAME, "q").send_keys("compress data")
    Select(browser.find_element(By.NAME, "category")).select_by_value("compression")
    threshold = browser.find_element(By.NAME, "threshold")
    threshold.clear()
    threshold.send_keys("0.1")
    choose_mode(browser, "Vector")  # the minimum score applies to vector mode
    submit(browser)

    shown = results(browser)
    assert shown, browser.find_element(By.ID, "summary").text
    assert all(title.startswith("gzip") for title, _ in shown)
    assert all(score >= 0.1 for _, score in shown)
    # The form keeps what was asked, for refining the search.
    assert browser.find_element(By.NAME, "q").get_attribute("value") == "compress data"
    selected = Select(browser.find_element(By.NAME, "category")).first_selected_option
    assert selected.get_attribute("value") == "compression"


def legs(driver):
    """(vector, keyword) leg scores of each hybrid result, as shown ("—" where a leg missed)."""
    return [
        tuple(
            item.find_element(By.CSS_SELECTOR, f".leg-{leg} .leg-value").text
            for leg in ("vector", "keyword")
        )
        for item in driver.find_elements(By.CSS_SELECTOR, "#results li.result")
    ]


def test_switching_the_mode_changes_the_results_and_their_scores(
    browser, live_server, corpus_slice
):
    browser.get(live_server.url + "/")
    hybrid = browser.find_element(By.CSS_SELECTOR, "input[name=mode][value=hybrid]")
    assert hybrid.is_selected()  # the default
    browser.find_element(By.NAME, "q").send_keys("json.dumps")

    choose_mode(browser, "Keyword")
    submit(browser)
    keyword = results(browser)
    # Only documents with the exact name, each with a keyword score shown to 4 places.
    assert [title for title, _ in keyword] == ["json", "json.dumps"]
    assert "keyword score" in browser.find_element(By.ID, "summary").text
    assert all(re.fullmatch(r"0\.\d{4}", text) for text in score_texts(browser))
    assert browser.find_element(By.CSS_SELECTOR, "input[name=mode][value=keyword]").is_selected()

    choose_mode(browser, "Vector")
    submit(browser)
    vector = results(browser)
    assert len(vector) == 10
    assert vector[0][0] != "json.dumps"  # the name alone is a weak vector query here
    assert "json.dumps" in [title for title, _ in vector[:3]]
    assert "vector score" in browser.find_element(By.ID, "summary").text
    assert not browser.find_elements(By.CSS_SELECTOR, "#results .leg")

    choose_mode(browser, "Hybrid")
    submit(browser)
    fused = results(browser)
    assert fused[0][0] == "json.dumps"  # second in both rankings beats first in one
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 62, abs=1e-4)
    shown_legs = legs(browser)
    assert "—" not in shown_legs[0]  # found by both legs
    assert ("—" in shown_legs[2][1]) and shown_legs[2][0] != "—"  # the vector leg's alone
    assert "hybrid score" in browser.find_element(By.ID, "summary").text
    assert browser.find_element(By.NAME, "q").get_attribute("value") == "json.dumps"


def test_an_empty_keyword_query_shows_a_form_error(browser, live_server, corpus_slice):
    browser.get(live_server.url + "/?q=+&mode=keyword")
    alert = wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, "[role=alert]")))
    assert "Type a description or a name to search for." in alert.text
    assert not browser.find_elements(By.ID, "results")
    assert browser.find_element(By.CSS_SELECTOR, "input[name=mode][value=keyword]").is_selected()


# -- the admin ----------------------------------------------------------------------------------

PASSWORD = "correct horse battery staple"


@pytest.fixture
def admin_site(request, settings, django_user_model):
    """The example's admin, with the templates it needs, and an editor who may use it."""
    from tests import settings as test_settings

    request.getfixturevalue("example_site")  # first: it sets the example's own templates
    settings.TEMPLATES = test_settings.TEMPLATES  # the auth and messages context processors
    django_user_model.objects.create_superuser("editor", "editor@example.com", PASSWORD)


def log_in(driver, url):
    """Open ``url``; the admin asks to log in first, then goes there."""
    driver.delete_all_cookies()
    driver.get(url)
    wait(driver, EC.presence_of_element_located((By.ID, "id_username"))).send_keys("editor")
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD, Keys.ENTER)
    wait(driver, EC.presence_of_element_located((By.ID, "changelist")))


def admin_rows(driver):
    """(title, score text) of each changelist row, in page order."""
    return [
        (
            row.find_element(By.CSS_SELECTOR, ".field-title a").text,
            row.find_element(By.CSS_SELECTOR, ".field-vector_search_score").text,
        )
        for row in driver.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    ]


def test_admin_search_ranks_documents_and_the_change_page_shows_similar_ones(
    browser, live_server, corpus_slice, admin_site
):
    from example_project.documents.models import Document

    log_in(browser, live_server.url + "/admin/documents/document/")
    assert [score for _, score in admin_rows(browser)] == ["—"] * len(corpus_slice)

    text = "read and write CSV files"
    browser.find_element(By.ID, "searchbar").send_keys(text, Keys.ENTER)
    wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, ".vector-search-score")))

    rows = admin_rows(browser)
    expected = list(Document.objects.hybrid_search(text, limit=50))
    assert [title for title, _ in rows] == [doc.title for doc in expected]
    assert all(title.startswith("csv") for title, _ in rows[:3])
    scores = [float(e.text) for e in browser.find_elements(By.CSS_SELECTOR, ".vector-search-score")]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == pytest.approx(expected[0].hybrid_score, abs=1e-4)
    assert "vector 0." in rows[0][1]  # each leg's score next to the fused one
    assert not browser.find_elements(By.CSS_SELECTOR, "#result_list th.sortable")

    first = rows[0][0]
    browser.find_element(By.LINK_TEXT, first).click()
    wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, "ol.vector-similar")))
    assert browser.find_element(By.ID, "id_title").get_attribute("value") == first

    items = browser.find_elements(By.CSS_SELECTOR, "ol.vector-similar li")
    similar = [(i.find_element(By.TAG_NAME, "a").text, i.text.rsplit(" ", 1)[1]) for i in items]
    assert 1 <= len(similar) <= 5
    assert first not in [title for title, _ in similar]
    assert similar[0][0].startswith("csv")
    similar_scores = [float(score) for _, score in similar]
    assert similar_scores == sorted(similar_scores, reverse=True)

    browser.find_element(By.LINK_TEXT, similar[0][0]).click()
    wait(browser, EC.text_to_be_present_in_element_value((By.ID, "id_title"), similar[0][0]))
