"""Headless Chromium (Debian's chromium and chromium-driver) driven by selenium, with the waits and
lookups the admin UI's browser test needs. Every wait has a deadline; none sleeps a fixed time."""
import os

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
DESKTOP = (1280, 800)
PHONE = (390, 844)


class Browser:
    def __init__(self, base_url, screenshot_dir, timeout):
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--no-first-run", "--window-size=%d,%d" % DESKTOP):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(timeout)
        self.base = base_url.rstrip("/")
        self.shots = screenshot_dir
        self.timeout = timeout
        self.size = DESKTOP
        os.makedirs(self.shots, exist_ok=True)
        self.set_size(*DESKTOP)

    def quit(self):
        self.driver.quit()

    def set_size(self, width, height):
        """The viewport's size, as a phone of that size would have it (device metrics, not the window:
        a headless window has a minimum width)."""
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
        self.size = (width, height)

    def open(self, fragment=""):
        self.driver.get(self.base + "/" + fragment)

    def wait(self, cond, what):
        def check(_):
            try:
                return cond()
            except StaleElementReferenceException:
                return None  # re-rendered between the lookup and the read: look again
        try:
            return WebDriverWait(self.driver, self.timeout, poll_frequency=0.05).until(check)
        except Exception as e:
            self.screenshot("failed")
            raise AssertionError("timed out waiting for %s (%s)\nconsole: %s" % (what, type(e).__name__,
                                                                               self.console()))

    def find(self, css):
        found = self.driver.find_elements(By.CSS_SELECTOR, css)
        return found[0] if found else None

    def find_all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def visible(self, css):
        """The element for CSS once it is displayed."""
        def shown():
            e = self.find(css)
            return e if e is not None and e.is_displayed() else None
        return self.wait(shown, css + " to show")

    def text(self, css):
        e = self.find(css)
        return e.text if e is not None else None

    def wait_text(self, css, pred, what):
        """The text of CSS once PRED(text) holds."""
        def check():
            t = self.text(css)
            return t if t is not None and pred(t) else None
        return self.wait(check, what)

    def click(self, css):
        e = self.visible(css)
        self.wait(e.is_enabled, css + " to be enabled")
        e.click()
        return e

    def click_when(self, css, what):
        """Clicks CSS once it shows, looking it up again when the page re-rendered it meanwhile."""
        def attempt():
            e = self.find(css)
            if e is None or not e.is_displayed() or not e.is_enabled():
                return None
            e.click()
            return True
        self.wait(attempt, what)

    def type_into(self, css, text):
        e = self.visible(css)
        e.clear()
        e.send_keys(text)
        return e

    def set_value(self, css, text):
        """Sets a text field's value at once (send_keys would type JSON brackets one key at a time)."""
        e = self.visible(css)
        self.driver.execute_script("arguments[0].value = arguments[1];", e, text)
        return e

    def nav(self, page):
        self.click("[data-test=nav-%s]" % page)
        return self.visible("[data-test=page-%s]" % page)

    def screenshot(self, name):
        suffix = "" if self.size == DESKTOP else "-phone"
        path = os.path.join(self.shots, name + suffix + ".png")
        self.driver.save_screenshot(path)
        return path

    def overflows_sideways(self):
        """Whether the page is wider than the viewport (a layout that does not fit a phone)."""
        return self.driver.execute_script(
            "return document.documentElement.scrollWidth > window.innerWidth + 1;")

    def console(self):
        try:
            return [e["message"] for e in self.driver.get_log("browser")]
        except Exception:  # the log is a diagnostic: a driver without it must not hide the real failure
            return []
