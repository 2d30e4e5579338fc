#!/usr/bin/env python3
"""The admin web UI in a real browser (headless Chromium) against real processes: the MongoDB
stand-in, outpost-server with the connector and the admin server, and devices (`outpost`).

In the browser: log in (after a wrong password), open every page, find the task a device wrote, edit
it and see the change on the devices and in MongoDB; create and delete an object; see a bad query's
error; disconnect a client; see a dead letter for a document MongoDB holds that the model cannot
take, fix the document with pymongo and retry it; start a full import and watch its progress bar
reach the end. Then every page again at a phone's size, and log out. A screenshot of each page goes to OUTPOST_SCREENSHOTS.

Usage: admin_ui_test.py CASE   (run by ctest, one case each; see CASES at the bottom)
Environment: OUTPOST_SERVER, OUTPOST_CLI, MONGO_STANDIN (binaries), OUTPOST_MODEL (examples/tasks
model), OUTPOST_SCREENSHOTS (a directory for the screenshots).
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "integration", "py"))

from mongo_e2e_test import CLI, DEADLINE, MODEL, SECRET, SERVER, Env, by_text, wait_for  # noqa: E402
from ui_driver import DESKTOP, PHONE, Browser  # noqa: E402

ADMIN_USER = "admin"
ADMIN_PASSWORD = "correct horse battery staple"
USERS_ONLY_IN_MONGO = 30000
PAGES = ["status", "data", "schema", "clients", "history", "mongo"]


class AdminEnv(Env):
    """Env (tests/integration/py) with the server's admin address and a watching device."""

    def start_server(self, *extra, db="server", account=True, mongo=True):
        """The server with an admin account (ACCOUNT) and the connector (MONGO), or without them."""
        args = [SERVER, "--model", MODEL, "--bind", "ws://127.0.0.1:0", "--db-directory", os.path.join(self.dir, db),
                "--auth-shared-secret", SECRET, "--admin-bind", "http://127.0.0.1:0"]
        if mongo:
            args += ["--mongo-url", self.mongo_url, "--mongo-db", self.db_name]
        if account:
            password_file = os.path.join(self.dir, "admin-password")
            with open(password_file, "w") as f:
                f.write(ADMIN_PASSWORD)
            args += ["--admin-user", ADMIN_USER, "--admin-password-file", password_file]
        out_path = os.path.join(self.dir, db + ".out")
        err_path = os.path.join(self.dir, "server.log")
        self.server = subprocess.Popen([*args, *extra], stdout=open(out_path, "w"), stderr=open(err_path, "a"))
        self.procs.append(self.server)

        def ports():
            if self.server.poll() is not None:
                raise AssertionError("outpost-server exited: " + open(err_path).read())
            text = open(out_path).read() + open(err_path).read()
            ws = re.search(r"(?<!admin )listening on ws://\S*:(\d+)", text)
            admin = re.search(r"admin listening on (http://\S*:\d+)", text)
            return ws and admin and (int(ws.group(1)), admin.group(1))
        ws_port, self.admin_url = wait_for(ports, "the server's addresses")
        self.url = "ws://127.0.0.1:%d" % ws_port

    def watch(self, name):
        """A device that stays connected (`outpost sync --watch`); returns (stdout path, stderr path)."""
        out, err = os.path.join(self.dir, name + ".watch.out"), os.path.join(self.dir, name + ".watch.err")
        p = subprocess.Popen([CLI, "sync", "--db", self.device(name), "--model", MODEL, "--url", self.url,
                              "--secret", SECRET, "--watch"], stdout=open(out, "w"), stderr=open(err, "w"))
        self.procs.append(p)
        wait_for(lambda: "sync: up to date" in open(err).read(), "the watching device to be up to date")
        return out, err


def count(text):
    return int(text.replace(",", ""))


def log_in(b):
    b.open()
    b.visible("#login-user")
    b.screenshot("login")
    b.type_into("#login-user", ADMIN_USER)
    b.type_into("#login-password", "wrong password")
    b.click("#login-submit")
    assert "Wrong user or password" in b.visible("#login-error").text
    b.type_into("#login-password", ADMIN_PASSWORD)
    b.click("#login-submit")
    b.visible("[data-test=page-status]")
    assert b.text("[data-test=session-user]") == ADMIN_USER
    assert not b.find("#login-error").is_displayed()


def status_page(b):
    b.wait_text("[data-test=status-clients]", lambda t: t not in ("", "–") and count(t) >= 1,
                "the watching device among the clients")
    b.wait_text("[data-test=status-mongo-state]", lambda t: t == "streaming", "the connector streaming")
    # Live: the uptime moves on without a reload.
    first = b.text("[data-test=status-uptime]")
    b.wait_text("[data-test=status-uptime]", lambda t: t != first, "the status to refresh")
    b.screenshot("status")


def run_query(b, where):
    b.type_into("#query-where", where)
    b.click("#query-run")


def data_page(env, b, watch_out):
    b.nav("data")
    b.visible("[data-test=entity-Task].active")  # the first entity opens by itself
    run_query(b, 'text == ')
    err = b.visible("#query-error")
    column = int(err.get_attribute("data-column") or 0)
    assert column > 0 and "column" in err.text, err.text
    b.screenshot("data-query-error")

    run_query(b, 'text == "Buy milk"')
    b.wait_text("#objects-summary", lambda t: t == "1–1 of 1", "the device's task alone")
    assert not b.find("#query-error").is_displayed()
    b.click("[data-test=object-row]")
    b.wait_text("#object-json", lambda t: '"Buy milk"' in t, "the task's JSON")

    # A value of the wrong type: the server's error shows in the editor, nothing changes.
    b.click("#object-edit")
    b.set_value("#object-editor", '{"done": "yes"}')
    b.click("#object-save")
    assert "done" in b.visible("#object-error").text
    b.set_value("#object-editor", '{"text": "Buy oat milk", "done": true}')
    b.click("#object-save")
    b.wait_text("#object-json", lambda t: '"Buy oat milk"' in t and '"done": true' in t, "the stored edit")
    run_query(b, 'text ^= "Buy"')
    b.wait_text("#objects-summary", lambda t: t == "1–1 of 1", "the edited task found")
    b.click("[data-test=object-row]")
    b.wait_text("#object-json", lambda t: '"Buy oat milk"' in t, "the edited task's JSON")
    b.screenshot("data")

    wait_for(lambda: env.db.Task.find_one({"text": "Buy oat milk", "done": True}), "the edit in MongoDB")
    wait_for(lambda: "Buy oat milk" in open(watch_out).read(), "the edit on the watching device")
    objs = env.eventually_on_device("a", "Task", lambda o: by_text(o, "Buy oat milk"), "the edit on device a")
    task = by_text(objs, "Buy oat milk")
    assert task["done"] is True and task["tags"] == ["home"], objs

    # Create an object, then delete it (with the confirmation).
    b.click("#object-new")
    b.set_value("#object-editor", '{"text": "Short-lived", "done": false}')
    b.click("#object-save")
    b.wait_text("#object-json", lambda t: '"Short-lived"' in t, "the created object")
    wait_for(lambda: env.db.Task.find_one({"text": "Short-lived"}), "the created object in MongoDB")
    env.eventually_on_device("a", "Task", lambda o: by_text(o, "Short-lived"), "the created object on device a")
    b.click("#object-delete")
    b.click("#object-delete-confirm")
    b.wait(lambda: not b.find("#object-detail").is_displayed(), "the deleted object's panel to close")
    wait_for(lambda: env.db.Task.count_documents({"text": "Short-lived"}) == 0, "the delete in MongoDB")
    env.eventually_on_device("a", "Task", lambda o: not by_text(o, "Short-lived"), "the delete on device a")


def schema_page(b):
    b.nav("schema")
    b.wait(lambda: len(b.find_all("[data-test=schema-entity]")) == 3, "the model's three entities")
    task = b.find("[data-test=schema-entity][data-entity=Task]").text
    assert "dateCreated" in task and "indexed" in task and "7210432819372541001" in task, task
    b.screenshot("schema")


def clients_page(b, watch_err):
    b.nav("clients")
    row = b.visible("[data-test=client-row]")
    session = row.get_attribute("data-session")
    b.screenshot("clients")
    before = open(watch_err).read().count("sync: ")
    b.click_when("[data-test=client-row][data-session='%s'] [data-test=client-disconnect]" % session,
                 "the Disconnect button")
    b.wait(lambda: not b.find_all("[data-test=client-row][data-session='%s']" % session),
           "the disconnected session to leave the list")
    wait_for(lambda: open(watch_err).read().count("sync: ") > before, "the device to see the disconnect")


def history_page(b):
    b.nav("history")
    b.visible("[data-test=history-row]")
    origins = [e.text for e in b.find_all("[data-test=history-row] .badge")]
    assert "admin" in origins, origins
    b.screenshot("history")


def dead_letter(env, b):
    b.nav("mongo")
    b.wait_text("[data-test=mongo-state-value]", lambda t: t == "streaming", "the connector streaming")
    bad = env.db.Task.insert_one({"text": "Typed wrong", "done": "yes"}).inserted_id
    row_css = "[data-test=dead-letter-row]"

    def the_row():
        return next((r for r in b.find_all(row_css) if str(bad) in r.text), None)
    row = b.wait(the_row, "the dead letter of the document with the wrong type")
    dl_id = row.get_attribute("data-id")
    assert "done" in row.find_element("css selector", "[data-test=dl-reason]").text, row.text
    b.screenshot("mongo")

    # Still wrong: the retry fails and says why; the dead letter stays.
    retry = "%s[data-id='%s'] [data-test=dl-retry]" % (row_css, dl_id)
    b.click_when(retry, "the Retry button")
    b.visible("[data-test=dl-error][data-id='%s']" % dl_id)
    assert b.find("%s[data-id='%s']" % (row_css, dl_id)) is not None

    env.db.Task.update_one({"_id": bad}, {"$set": {"done": False}})
    b.click_when(retry, "the Retry button")
    b.wait_text("#dead-letters-message", lambda t: ("Dead letter %s" % dl_id) in t and "applied" in t,
                "the retry applied")
    b.wait(lambda: b.find("%s[data-id='%s']" % (row_css, dl_id)) is None, "the dead letter to go")
    env.eventually_on_device("a", "Task", lambda o: (by_text(o, "Typed wrong") or {}).get("done") is False,
                             "the fixed document on the device")


def full_import(env, b):
    rows_before = len(b.find_all("[data-test=import-row]"))
    b.click("#import-start")
    running_seen = []

    def finished():
        st = b.find("[data-test=import-status]")
        if st is not None:
            running_seen.append(st.text)
        done = b.find("[data-test=import-finished]")
        return done if done is not None and done.is_displayed() else None
    done = b.wait(finished, "the import to finish")
    assert "failed" not in done.text, done.text
    value, top = (float(b.find("#import-progress").get_attribute(a)) for a in ("value", "max"))
    assert value == top and top >= USERS_ONLY_IN_MONGO, (value, top)
    b.wait(lambda: len(b.find_all("[data-test=import-row]")) == rows_before + 1, "the import in the list")
    b.screenshot("mongo-import")
    # The stand-in and the connector import some 150,000 documents a second: the page, which polls 4
    # times a second while an import runs, may see it only once it ended.
    print("import: %s, then full at %d documents" % (
        running_seen[-1] if running_seen else "ended before the page's next refresh", top))
    assert not b.find("#import-error").is_displayed()

    b.nav("data")
    b.wait_text("[data-test=entity-count-User]", lambda t: count(t) == USERS_ONLY_IN_MONGO,
                "the imported users counted")
    assert env.db.User.count_documents({}) == USERS_ONLY_IN_MONGO


def phone_pages(b):
    b.set_size(*PHONE)
    for page in PAGES:
        b.open("#/" + page)
        b.visible("[data-test=page-%s]" % page)
        if page == "data":
            b.visible("[data-test=object-row]")
        b.wait(lambda: b.find("[data-test=nav-%s].active" % page), "the %s tab marked" % page)
        assert not b.overflows_sideways(), "the %s page is wider than a phone" % page
        b.screenshot(page)


def log_out(b):
    b.set_size(*DESKTOP)
    b.click("[data-test=logout]")
    b.visible("#login-user")
    b.open("#/data")  # the session is gone on the server too: a reload asks to log in again
    b.visible("#login-user")
    assert not b.find("#nav").is_displayed()


def no_console_errors(b):
    errors = [m for m in b.console() if "Uncaught" in m or "TypeError" in m]
    assert not errors, errors


def case_scenario(env, browser_for):
    # Documents only MongoDB has: the connector follows changes from its start, the full import
    # brings these in.
    env.db.User.insert_many([{"name": "u%05d" % i, "email": "u%d@example.org" % i}
                             for i in range(USERS_ONLY_IN_MONGO)])
    env.start_server()
    env.put("a", "Task", {"text": "Buy milk", "done": False, "tags": ["home"]})
    env.sync("a")
    wait_for(lambda: env.db.Task.find_one({"text": "Buy milk"}), "the device's task in MongoDB")
    watch_out, watch_err = env.watch("w")

    b = browser_for(os.environ["OUTPOST_SCREENSHOTS"])
    log_in(b)
    status_page(b)
    data_page(env, b, watch_out)
    schema_page(b)
    clients_page(b, watch_err)
    history_page(b)
    dead_letter(env, b)
    full_import(env, b)
    phone_pages(b)
    log_out(b)
    no_console_errors(b)


def case_no_account_no_connector(env, browser_for):
    """On loopback without an admin account there is no login: the user is `local`, and its changes
    carry the session's CSRF token like any other. Without a connector the MongoDB page says so."""
    env.start_server(account=False, mongo=False)
    env.put("a", "Task", {"text": "Local task", "done": False})
    env.sync("a")
    b = browser_for(os.path.join(env.dir, "screenshots"))
    b.open()
    b.visible("[data-test=page-status]")
    assert b.text("[data-test=session-user]") == "local"
    assert not b.find("#login").is_displayed()
    b.visible("[data-test=status-mongo-none]")
    assert b.find("[data-test=chart-mongo]").is_displayed() is False
    b.nav("data")
    run_query(b, 'text == "Local task"')
    b.wait_text("#objects-summary", lambda t: t == "1–1 of 1", "the device's task")
    b.click("[data-test=object-row]")
    b.click("#object-edit")
    b.set_value("#object-editor", '{"done": true}')
    b.click("#object-save")
    b.wait_text("#object-json", lambda t: '"done": true' in t, "the stored edit")
    env.eventually_on_device("a", "Task", lambda o: by_text(o, "Local task")["done"] is True, "the edit on the device")
    b.nav("mongo")
    b.visible("[data-test=mongo-none]")
    assert not b.find("#mongo-error").is_displayed()
    no_console_errors(b)


CASES = {"scenario": case_scenario, "no_account_no_connector": case_no_account_no_connector}


def main():
    env = AdminEnv()
    browsers = []

    def browser_for(screenshots):
        browsers.append(Browser(env.admin_url, screenshots, DEADLINE))
        return browsers[-1]
    try:
        CASES[sys.argv[1]](env, browser_for)
        print("PASS", sys.argv[1])
    finally:
        for b in browsers:
            b.quit()
        env.close()


if __name__ == "__main__":
    main()
