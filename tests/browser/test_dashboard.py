"""The dashboard in a real headless browser: the issue's five acceptance checks, on SQLite and
PostgreSQL. The pages come from `tasker dashboard`; the tasks are created and run by this
process through the Python wrapper, so every live change crosses a process boundary."""

import os
import threading
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 30  # seconds: an upper bound for CI machines, not a timing assertion


def wait_for(driver, cond, what):
    return WebDriverWait(driver, WAIT).until(lambda d: cond(d), message=f"waiting for {what}")


def step_nodes(driver):
    return driver.find_elements(By.CSS_SELECTOR, "svg.dag g.step")


def node_states(driver):
    return {g.get_attribute("data-step-name"): g.get_attribute("class") for g in step_nodes(driver)}


def test_task_list_and_diamond_dag(world, browser):
    client, _gate, base = world
    tid = client.create_task("diamond", {"n": 1}, namespace="browser").task_id
    client.run_task(tid)
    browser.get(base + "/tasks")
    link = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, f'tr[data-task-id="{tid}"] a'), "the task row")
    link.click()
    wait_for(browser, lambda d: len(step_nodes(d)) == 4, "four step nodes")
    states = node_states(browser)
    assert sorted(states) == ["a", "b", "c", "d"]
    assert all(c == "step state-complete" for c in states.values()), states
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.dag path.edge")) == 4
    # Drawn, not just present: each box has its laid-out size and they do not overlap.
    boxes = [g.find_element(By.TAG_NAME, "rect").rect for g in step_nodes(browser)]
    assert all(b["width"] > 100 and b["height"] > 20 for b in boxes), boxes
    spots = {(round(b["x"]), round(b["y"])) for b in boxes}
    assert len(spots) == 4, boxes
    title = browser.find_element(By.CSS_SELECTOR, 'svg.dag g.step[data-step-name="d"] title')
    assert "attempts 1/" in title.get_attribute("textContent")
    shots = os.environ.get("TASKER_SCREENSHOTS_DIR")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(Path(shots) / "dashboard-task.png"))
        # A few more tasks, some failing, so that the overview has something to show.
        for n in range(5):
            client.run_task(client.create_task("diamond", {"n": 10 + n}, namespace="browser").task_id)
        for n in range(2):
            client.run_task(client.create_task("charge", {"n": n}, namespace="browser").task_id)
        browser.get(base + "/")
        wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, '[data-count="complete_tasks"]').text != "", "counts")
        browser.save_screenshot(str(Path(shots) / "dashboard-overview.png"))


def test_running_task_turns_complete_without_reload(world, browser):
    client, gate, base = world
    gate.close()
    tid = client.create_task("diamond", {"n": 2}, namespace="browser").task_id
    runner = threading.Thread(target=client.run_task, args=(tid,))
    runner.start()
    try:
        browser.get(f"{base}/tasks/{tid}")
        wait_for(browser, lambda d: node_states(d).get("b") == "step state-in_progress", "step b running")
        assert browser.find_element(By.CSS_SELECTOR, "[data-live-task-state]").text == "in_progress"
        # A marker a reload would erase.
        browser.execute_script("window.__sameDocument = 'yes';")
        gate.open()
        runner.join(WAIT)
        wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, "[data-live-task-state]").text == "complete", "task complete")
        wait_for(browser, lambda d: set(node_states(d).values()) == {"step state-complete"}, "all nodes complete")
        assert browser.execute_script("return window.__sameDocument;") == "yes", "the page was reloaded"
        assert int(browser.find_element(By.TAG_NAME, "body").get_attribute("data-live-updates")) >= 2
    finally:
        gate.open()
        runner.join(WAIT)


def test_retry_an_errored_step(world, browser):
    client, _gate, base = world
    tid = client.create_task("charge", {}, namespace="browser").task_id
    client.run_task(tid)
    sid = client.step_id(tid, "charge_card")
    assert client.task_view(tid)["steps"][0]["state"] == "error"
    browser.get(f"{base}/steps/{sid}")
    assert "card declined by the issuer" in browser.find_element(By.ID, "last-error").text
    browser.find_element(By.ID, "retry").click()
    wait_for(browser, lambda d: d.current_url.endswith(f"/steps/{sid}") and not d.find_elements(By.ID, "retry"), "the retried page")
    step = client.task_view(tid)["steps"][0]
    assert (step["state"], step["attempts"]) == ("pending", 0), step
    assert browser.find_element(By.CSS_SELECTOR, "h1 [data-live-step-state]").text == "pending"
