//! Harness for the real-window E2E tests of the Keyport desktop portal.
//!
//! The tests drive the built app (`$CARGO_TARGET_DIR/debug/keyport`) over
//! WebDriver: they start `tauri-driver` themselves (which starts Debian's
//! `WebKitWebDriver`, which starts the app), give the app fresh XDG folders,
//! click through the UI by its `data-testid`s (ui/README.md) and save a
//! screenshot of each step. `scripts/e2e.sh` builds everything and runs them
//! under Xvfb with a throwaway Secret Service; without `KEYPORT_E2E=1` every
//! test is skipped, so a plain `cargo test --workspace` needs no display.

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use std::fmt::Display;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a step may take before the test fails (a debug build on two
/// busy cores starts in a few seconds; this leaves ample room).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

/// The app's identifier (tauri.conf.json): its folder under the XDG dirs and
/// the keychain "service" of its entries (keyport_portal::keychain::SERVICE_NAME).
pub const APP_ID: &str = "dev.keyport.portal";
/// Written by the embedded service next to its database: ids only
/// (keyport_portal::embedded::STATE_FILE).
pub const EMBEDDED_STATE_FILE: &str = "embedded.json";

// ---- errors ----

/// A failed step: what was being done and why it failed.
pub struct Error(String);

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

pub fn fail<T>(msg: impl Display) -> Result<T> {
    Err(Error(msg.to_string()))
}

/// `ensure!`-style check that keeps the test's `?` flow.
pub fn check(cond: bool, msg: impl Display) -> Result<()> {
    if cond {
        Ok(())
    } else {
        fail(msg)
    }
}

pub trait Context<T> {
    fn ctx(self, what: impl Display) -> Result<T>;
}

impl<T, E: Display> Context<T> for std::result::Result<T, E> {
    fn ctx(self, what: impl Display) -> Result<T> {
        self.map_err(|e| Error(format!("{what}: {e}")))
    }
}

impl<T> Context<T> for Option<T> {
    fn ctx(self, what: impl Display) -> Result<T> {
        self.ok_or_else(|| Error(format!("{what}: nothing found")))
    }
}

// ---- gate ----

/// True when `KEYPORT_E2E=1`. Otherwise prints why the test is skipped, to
/// the real stderr (not libtest's captured output, so it is always seen).
pub fn enabled(test: &str) -> bool {
    if std::env::var("KEYPORT_E2E").as_deref() == Ok("1") {
        return true;
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: real-window E2E test; set KEYPORT_E2E=1 (needs a display, tauri-driver, \
         WebKitWebDriver and a Secret Service) or run scripts/e2e.sh"
    );
    false
}

// ---- paths ----

/// The cargo target dir: `$CARGO_TARGET_DIR`, else the one this test binary
/// was built in (`<target>/debug/deps/<test>`).
pub fn target_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"))
}

fn binary(env: &str, name: &str) -> Result<PathBuf> {
    let path = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("debug").join(name));
    let abs = std::fs::canonicalize(&path).ctx(format!(
        "{} not found (build it with `cargo build -p keyport -p keyport-server --bins`, or set {env})",
        path.display()
    ))?;
    Ok(abs)
}

/// The desktop app (`KEYPORT_APP_BIN` overrides), as an absolute path.
pub fn app_bin() -> Result<PathBuf> {
    binary("KEYPORT_APP_BIN", "keyport")
}

/// The key service binary (`KEYPORT_SERVER_BIN` overrides).
pub fn server_bin() -> Result<PathBuf> {
    binary("KEYPORT_SERVER_BIN", "keyport-server")
}

/// Where screenshots go: `$E2E_SHOTS`, else `<target dir>/e2e-shots`.
pub fn shots_dir() -> PathBuf {
    std::env::var_os("E2E_SHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("e2e-shots"))
}

// ---- sandbox: fresh XDG folders for one app run ----

pub struct Sandbox {
    root: tempfile::TempDir,
    pub data: PathBuf,
    pub config: PathBuf,
    pub cache: PathBuf,
}

impl Sandbox {
    pub fn new() -> Result<Self> {
        let root = tempfile::Builder::new()
            .prefix("keyport-e2e-")
            .tempdir()
            .ctx("creating the sandbox")?;
        let dir = |n: &str| -> Result<PathBuf> {
            let p = root.path().join(n);
            std::fs::create_dir_all(&p).ctx(format!("creating {}", p.display()))?;
            Ok(p)
        };
        Ok(Self {
            data: dir("data")?,
            config: dir("config")?,
            cache: dir("cache")?,
            root,
        })
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// A scratch folder in the sandbox that the app does not use.
    pub fn scratch(&self, name: &str) -> Result<PathBuf> {
        let p = self.root.path().join(name);
        std::fs::create_dir_all(&p).ctx(format!("creating {}", p.display()))?;
        Ok(p)
    }

    /// The app's data folder (Tauri's app_data_dir).
    pub fn app_data(&self) -> PathBuf {
        self.data.join(APP_ID)
    }

    /// The marker every process started for this sandbox carries in its
    /// environment, so the harness can find (and, on failure, stop) them.
    fn marker(&self) -> String {
        self.root.path().display().to_string()
    }

    /// Pids of the processes started for this sandbox (tauri-driver's
    /// children: WebKitWebDriver, the app and its WebKit processes).
    pub fn processes(&self) -> Vec<(u32, String)> {
        let needle = format!("KEYPORT_E2E_SANDBOX={}", self.marker());
        let mut found = vec![];
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return found;
        };
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(env) = std::fs::read(e.path().join("environ")) else {
                continue;
            };
            if env.split(|b| *b == 0).any(|v| v == needle.as_bytes()) {
                let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
                found.push((pid, comm.trim().to_string()));
            }
        }
        found
    }

    /// Waits until the app (and its WebKit processes) has exited. The
    /// drivers (tauri-driver, WebKitWebDriver) stay up until [`Driver`] drops.
    pub fn wait_app_exited(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let left: Vec<_> = self
                .processes()
                .into_iter()
                .filter(|(_, comm)| comm != "tauri-driver" && comm != "WebKitWebDriver")
                .collect();
            if left.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return fail(format!(
                    "the app is still running {timeout:?} after the session closed: {left:?}"
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Stops whatever this sandbox's processes are still running, by pid.
    fn kill_all(&self) {
        for (pid, _) in self.processes() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }

    /// Files under `dirs` (recursively) whose bytes contain any of `needles`.
    pub fn files_containing(dirs: &[&Path], needles: &[&str]) -> Result<(usize, Vec<PathBuf>)> {
        let mut checked = 0;
        let mut hits = vec![];
        let mut stack: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).ctx(format!("listing {}", dir.display()))? {
                let e = e.ctx("reading a folder entry")?;
                let ft = e.file_type().ctx("file type")?;
                if ft.is_dir() {
                    stack.push(e.path());
                } else if ft.is_file() {
                    let bytes =
                        std::fs::read(e.path()).ctx(format!("reading {}", e.path().display()))?;
                    checked += 1;
                    if needles
                        .iter()
                        .any(|n| !n.is_empty() && contains(&bytes, n.as_bytes()))
                    {
                        hits.push(e.path());
                    }
                }
            }
        }
        Ok((checked, hits))
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // A failed test may leave the app running: never leak it.
        self.kill_all();
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A port that was free a moment ago.
fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").ctx("binding a free port")?;
    Ok(l.local_addr().ctx("local address")?.port())
}

// ---- tauri-driver ----

/// `tauri-driver` on two free ports; killed (with everything it started) on drop.
pub struct Driver {
    child: Child,
    pub url: String,
}

impl Driver {
    /// Starts `tauri-driver` (from PATH) with the sandbox's XDG folders in its
    /// environment: WebKitWebDriver and the app inherit them. Its output (and
    /// so the app's logs) goes to `log`.
    pub fn start(sandbox: &Sandbox, log: &Path) -> Result<Self> {
        Self::start_with_env(sandbox, log, &[])
    }

    /// [`Driver::start`] with extra environment variables for tauri-driver,
    /// which WebKitWebDriver and so the app inherit (as they do the XDG
    /// folders): settings the app reads at start, e.g. the embedded
    /// service's `KEYPORT_EMBEDDED_*`.
    pub fn start_with_env(sandbox: &Sandbox, log: &Path, env: &[(&str, &str)]) -> Result<Self> {
        let port = free_port()?;
        let mut native = free_port()?;
        while native == port {
            native = free_port()?;
        }
        let out = std::fs::File::create(log).ctx(format!("creating {}", log.display()))?;
        let err = out.try_clone().ctx("log file")?;
        let child = Command::new("tauri-driver")
            .args(["--port", &port.to_string(), "--native-port", &native.to_string()])
            .env("XDG_DATA_HOME", &sandbox.data)
            .env("XDG_CONFIG_HOME", &sandbox.config)
            .env("XDG_CACHE_HOME", &sandbox.cache)
            .env("KEYPORT_E2E_SANDBOX", sandbox.marker())
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .ctx("starting tauri-driver (install it: cargo install tauri-driver --version '^2' --locked)")?;
        let mut driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(driver);
            }
            if let Ok(Some(status)) = driver.child.try_wait() {
                return fail(format!(
                    "tauri-driver exited at start ({status}); see {}",
                    log.display()
                ));
            }
            if Instant::now() > deadline {
                return fail("tauri-driver did not listen within 10 s");
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- the app over WebDriver ----

pub fn testid(id: &str) -> String {
    format!("[data-testid=\"{id}\"]")
}

/// One WebDriver session = one run of the app.
pub struct App {
    client: Client,
    shots: PathBuf,
    prefix: String,
    step: u32,
}

impl App {
    /// Opens a session: tauri-driver starts the app.
    pub async fn launch(driver: &Driver, app: &Path, shots_prefix: &str) -> Result<Self> {
        Self::launch_with_args(driver, app, shots_prefix, &[]).await
    }

    /// [`App::launch`] with command-line arguments for the app (as a
    /// desktop passes a clicked `keyport://` link).
    pub async fn launch_with_args(
        driver: &Driver,
        app: &Path,
        shots_prefix: &str,
        args: &[String],
    ) -> Result<Self> {
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "wry".into());
        caps.insert(
            "tauri:options".into(),
            serde_json::json!({ "application": app.display().to_string(), "args": args }),
        );
        let client = ClientBuilder::native()
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .ctx("opening a WebDriver session (tauri-driver → WebKitWebDriver → app)")?;
        let shots = shots_dir();
        std::fs::create_dir_all(&shots).ctx(format!("creating {}", shots.display()))?;
        // Old shots of this test would be misleading next to the new ones.
        if let Ok(rd) = std::fs::read_dir(&shots) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().to_string();
                if n.starts_with(&format!("{shots_prefix}-"))
                    && (n.ends_with(".png") || n.ends_with(".html"))
                {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(Self {
            client,
            shots,
            prefix: shots_prefix.into(),
            step: 0,
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Waits until the page has settled: no finite CSS animation running
    /// (dialogs fade in, toasts slide), then two more frames painted. Without
    /// it a screenshot can show a dialog half faded in, or the frame before
    /// the last input.
    pub async fn settle(&self) -> Result<()> {
        const JS: &str = r#"
            const done = arguments[arguments.length - 1];
            const start = performance.now();
            const busy = () => document.getAnimations().some((a) =>
                a.playState === "running" && a.effect &&
                a.effect.getComputedTiming().iterations !== Infinity);
            const frames = (n) => n === 0 ? done(true) : requestAnimationFrame(() => frames(n - 1));
            (function tick() {
                if (!busy() || performance.now() - start > 3000) frames(2);
                else requestAnimationFrame(tick);
            })();
        "#;
        self.client
            .execute_async(JS, vec![])
            .await
            .ctx("waiting for the page to settle")?;
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(())
    }

    /// Saves a PNG of the window as `<prefix>-NN-<name>.png`.
    pub async fn shot(&mut self, name: &str) -> Result<PathBuf> {
        self.step += 1;
        // Best effort: a failure screenshot is still worth taking.
        let _ = self.settle().await;
        let png = self
            .client
            .screenshot()
            .await
            .ctx(format!("screenshot {name}"))?;
        let path = self
            .shots
            .join(format!("{}-{:02}-{name}.png", self.prefix, self.step));
        std::fs::write(&path, png).ctx(format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Waits until a CSS selector matches an element. (The UI renders
    /// dialogs and screens only while they are shown, so being in the DOM is
    /// being shown. WebKitWebDriver's "is displayed" answers false for some
    /// visible elements, e.g. inside table cells with `max-width: 0`.)
    pub async fn wait_css(&self, css: &str) -> Result<Element> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                return Ok(el);
            }
            if Instant::now() > deadline {
                return fail(format!(
                    "waiting for {css}: not shown within {STEP_TIMEOUT:?}"
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The element's `textContent`, whitespace collapsed. (WebDriver's
    /// "element text" leaves out some visible text in WebKitWebDriver, e.g.
    /// ellipsised spans.)
    pub async fn text_of(&self, el: &Element) -> Result<String> {
        let arg = serde_json::to_value(el).ctx("element reference")?;
        let v = self
            .client
            .execute("return arguments[0].textContent;", vec![arg])
            .await
            .ctx("reading textContent")?;
        let raw = v.as_str().unwrap_or_default();
        Ok(raw.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    pub async fn wait(&self, id: &str) -> Result<Element> {
        self.wait_css(&testid(id)).await
    }

    /// Waits until nothing matches the selector.
    pub async fn wait_gone_css(&self, css: &str) -> Result<()> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            match self.client.find_all(Locator::Css(css)).await {
                Ok(v) if v.is_empty() => return Ok(()),
                _ => {}
            }
            if Instant::now() > deadline {
                return fail(format!("waiting for {css} to go away"));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub async fn wait_gone(&self, id: &str) -> Result<()> {
        self.wait_gone_css(&testid(id)).await
    }

    /// Waits for the element's text to satisfy `ok`; returns that text.
    pub async fn wait_text_css(&self, css: &str, ok: impl Fn(&str) -> bool) -> Result<String> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        let mut last = String::new();
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                if let Ok(t) = self.text_of(&el).await {
                    if ok(&t) {
                        return Ok(t);
                    }
                    last = t;
                }
            }
            if Instant::now() > deadline {
                return fail(format!(
                    "waiting for the text of {css}; last seen: {last:?}"
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub async fn wait_text(&self, id: &str, ok: impl Fn(&str) -> bool) -> Result<String> {
        self.wait_text_css(&testid(id), ok).await
    }

    pub async fn text(&self, id: &str) -> Result<String> {
        let el = self.wait(id).await?;
        self.text_of(&el).await
    }

    /// How many elements with this `data-testid` are on the page now.
    pub async fn count(&self, id: &str) -> Result<usize> {
        let found = self
            .client()
            .find_all(fantoccini::Locator::Css(&testid(id)))
            .await
            .ctx(id)?;
        Ok(found.len())
    }

    /// Clicks once the element is there and clickable (dialogs animate in:
    /// an intercepted click is retried until the step times out).
    pub async fn click_css(&self, css: &str) -> Result<()> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let el = self.wait_css(css).await?;
            match el.click().await {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    let on_top = self.element_on_top(&el).await;
                    return fail(format!("clicking {css}: {e:?} (on top of it: {on_top})"));
                }
                Err(_) => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// What the page shows at the element's centre (for a failed click).
    async fn element_on_top(&self, el: &Element) -> String {
        const JS: &str = "const r = arguments[0].getBoundingClientRect(); \
            const e = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2); \
            return e ? e.outerHTML.slice(0, 300) : 'nothing';";
        let arg = serde_json::to_value(el).unwrap_or_default();
        match self.client().execute(JS, vec![arg]).await {
            Ok(v) => v.as_str().unwrap_or_default().to_string(),
            Err(e) => format!("unknown ({e})"),
        }
    }

    pub async fn click(&self, id: &str) -> Result<()> {
        self.click_css(&testid(id)).await
    }

    /// Types into a field (after clearing it).
    pub async fn type_into(&self, id: &str, text: &str) -> Result<()> {
        let el = self.wait(id).await?;
        el.clear().await.ctx(format!("clearing {id}"))?;
        el.send_keys(text).await.ctx(format!("typing into {id}"))
    }

    pub async fn is_selected(&self, id: &str) -> Result<bool> {
        self.wait(id)
            .await?
            .is_selected()
            .await
            .ctx(format!("{id} selected"))
    }

    /// The whole document as the webview has it now.
    pub async fn source(&self) -> Result<String> {
        self.client.source().await.ctx("page source")
    }

    /// Ends the session: WebKitWebDriver closes the app.
    pub async fn close(self) -> Result<()> {
        self.client.close().await.ctx("closing the session")
    }

    /// The outcome of a flow: on failure saves a `FAILED` screenshot and the
    /// page source next to the shots, closes the session and panics with the
    /// failed step.
    pub async fn finish<T>(mut self, res: Result<T>) -> (Self, T) {
        match res {
            Ok(v) => (self, v),
            Err(e) => {
                let shot = self.shot("FAILED").await;
                let src = self.source().await.unwrap_or_default();
                let src_path = self.shots.join(format!("{}-FAILED.html", self.prefix));
                let _ = std::fs::write(&src_path, src);
                let _ = self.client.close().await;
                panic!(
                    "{e:?}\n  screenshot: {}\n  page source: {}",
                    shot.map(|p| p.display().to_string())
                        .unwrap_or_else(|e| format!("{e:?}")),
                    src_path.display()
                );
            }
        }
    }
}

// ---- the keychain ----

/// The password of a portal keychain entry (service [`APP_ID`]), or `None`.
#[cfg(target_os = "linux")]
pub fn keychain_get(user: &str) -> Result<Option<String>> {
    let entry = keyring::Entry::new(APP_ID, user).ctx("keychain entry")?;
    match entry.get_password() {
        Ok(s) => Ok(Some(s)),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => fail(format!("reading the keychain entry {user}: {e}")),
    }
}

/// Deletes a portal keychain entry (cleanup after a test).
#[cfg(target_os = "linux")]
pub fn keychain_delete(user: &str) {
    if let Ok(e) = keyring::Entry::new(APP_ID, user) {
        let _ = e.delete_credential();
    }
}

/// The embedded account's admin key: its id is in the app's data folder
/// (`embedded.json`, ids only), the key in the keychain entry
/// `embedded:<account id>` (keyport_portal::embedded::keychain_user).
#[cfg(target_os = "linux")]
pub fn embedded_admin_key(sandbox: &Sandbox) -> Result<(String, String)> {
    let path = sandbox.app_data().join(EMBEDDED_STATE_FILE);
    let text = std::fs::read_to_string(&path).ctx(format!("reading {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).ctx("embedded.json")?;
    let account = v["account_id"]
        .as_str()
        .ctx("account_id in embedded.json")?
        .to_string();
    let user = format!("embedded:{account}");
    let key = keychain_get(&user)?.ctx(format!("keychain entry {user}"))?;
    Ok((user, key))
}

// ---- a separate key service ----

/// A `keyport-server serve` process; killed on drop.
pub struct Server {
    child: Child,
    /// Kept open: a closed pipe would make the server's next stdout line fail.
    _stdout: Option<BufReader<std::process::ChildStdout>>,
    pub url: String,
}

impl Server {
    /// Creates an account with the CLI, then serves the database on a free
    /// loopback port. Returns the server and the account's admin key.
    pub fn start(dir: &Path, account: &str, plan: &str) -> Result<(Self, String)> {
        let bin = server_bin()?;
        let db = format!("sqlite://{}", dir.join("remote.db").display());
        let v = account_create(&bin, &db, account, plan, &[])?;
        let admin = v["admin_key"].as_str().ctx("admin_key")?.to_string();
        Ok((Self::serve(&bin, &db, dir)?, admin))
    }

    /// Serves a fresh database, then creates an account with the CLI's
    /// `account create --enroll` (no key exists): returns the server and
    /// the `keyport://enroll` link the vendor would send.
    pub fn start_enrollable(dir: &Path, account: &str, plan: &str) -> Result<(Self, String)> {
        let bin = server_bin()?;
        let db = format!("sqlite://{}", dir.join("remote.db").display());
        let server = Self::serve(&bin, &db, dir)?;
        let v = account_create(
            &bin,
            &db,
            account,
            plan,
            &["--enroll", "--public-url", &server.url],
        )?;
        let link = v["enrollment"]["link"].as_str().ctx("enrollment.link")?;
        Ok((server, link.to_string()))
    }

    /// `keyport-server serve` on `db` on a free loopback port.
    fn serve(bin: &Path, db: &str, dir: &Path) -> Result<Self> {
        let log = std::fs::File::create(dir.join("server.log")).ctx("server log")?;
        let mut child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--database", db])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .ctx("starting keyport-server serve")?;
        let mut line = String::new();
        let mut stdout = child.stdout.take().map(BufReader::new);
        let read = stdout.as_mut().map(|r| r.read_line(&mut line));
        let mut server = Self {
            child,
            _stdout: stdout,
            url: String::new(),
        };
        read.ctx("server stdout")?
            .ctx("reading the server's first line")?;
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .ctx(format!("expected `listening on http://…`, got {line:?}"))?;
        server.url = addr.to_string();
        Ok(server)
    }
}

/// `keyport-server account create … --json [extra]`: its JSON output.
fn account_create(
    bin: &Path,
    db: &str,
    account: &str,
    plan: &str,
    extra: &[&str],
) -> Result<serde_json::Value> {
    let mut args = vec![
        "account", "create", "--name", account, "--plan", plan, "--json",
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--database", db]);
    let out = Command::new(bin)
        .args(&args)
        .output()
        .ctx("running keyport-server account create")?;
    check(
        out.status.success(),
        format!(
            "account create {extra:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    )?;
    serde_json::from_slice(&out.stdout).ctx("account create --json output")
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `scripts/cluster.sh`: three `keyport-server` instances on the local
/// PostgreSQL and Redis behind nginx, on one URL; stopped (SIGTERM, which
/// makes the script stop everything it started) on drop.
pub struct Cluster {
    child: Child,
    pub url: String,
}

impl Cluster {
    /// Starts the cluster with an account `account` on `plan`; returns it
    /// and the account's admin key. Logs go to `dir/cluster.log`.
    pub fn start(dir: &Path, account: &str, plan: &str) -> Result<(Self, String)> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/cluster.sh");
        let env_file = dir.join("cluster.env");
        let log = std::fs::File::create(dir.join("cluster.log")).ctx("cluster log")?;
        let child = Command::new("bash")
            .arg(&script)
            .arg("--print-env")
            .arg(&env_file)
            .env("KEYPORT_BIN", server_bin()?)
            .env("CLUSTER_PORT", free_port()?.to_string())
            .env("CLUSTER_ACCOUNT", account)
            .env("CLUSTER_PLAN", plan)
            .env("CLUSTER_REDIS_DB", "12")
            .stdin(Stdio::null())
            .stdout(log.try_clone().ctx("cluster log")?)
            .stderr(log)
            .spawn()
            .ctx("starting scripts/cluster.sh")?;
        let mut cluster = Self {
            child,
            url: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(180);
        let vars = loop {
            if let Ok(text) = std::fs::read_to_string(&env_file) {
                if text.contains("KEYPORT_CLUSTER_ADMIN_KEY=") {
                    break text;
                }
            }
            if let Ok(Some(status)) = cluster.child.try_wait() {
                return fail(format!(
                    "scripts/cluster.sh exited with {status}; see {}",
                    dir.join("cluster.log").display()
                ));
            }
            check(
                Instant::now() < deadline,
                "the cluster did not come up in 180 s",
            )?;
            std::thread::sleep(Duration::from_millis(200));
        };
        let var = |name: &str| {
            vars.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .map(str::to_string)
                .ctx(format!("{name} in the cluster's env file"))
        };
        cluster.url = var("KEYPORT_CLUSTER_URL")?;
        let admin = var("KEYPORT_CLUSTER_ADMIN_KEY")?;
        Ok((cluster, admin))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- longer waits and form controls ----

impl App {
    /// Waits until the element is there and enabled (not `disabled`);
    /// returns it.
    pub async fn wait_enabled_within(&self, id: &str, timeout: Duration) -> Result<Element> {
        let css = testid(id);
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(el) = self.client.find(Locator::Css(&css)).await {
                if el.is_enabled().await.unwrap_or(false) {
                    return Ok(el);
                }
            }
            if Instant::now() > deadline {
                return fail(format!(
                    "waiting for {css} to be enabled: still not after {timeout:?}"
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Chooses the `<option>` of a `<select>` whose text is `label`: clicks
    /// it, and if the select does not show it chosen (a WebDriver may not
    /// click options), sets it from script and sends the `change` event
    /// the UI listens to.
    pub async fn select_label(&self, id: &str, label: &str) -> Result<()> {
        const CHOSEN: &str = r#"
            const s = arguments[0];
            const o = s.selectedOptions[0];
            return o ? o.textContent.trim() : "";
        "#;
        const CHOOSE: &str = r#"
            const [s, label] = arguments;
            const o = Array.from(s.options).find((o) => o.textContent.trim() === label);
            if (!o) return false;
            s.value = o.value;
            s.dispatchEvent(new Event("input", { bubbles: true }));
            s.dispatchEvent(new Event("change", { bubbles: true }));
            return true;
        "#;
        let el = self.wait(id).await?;
        let _ = el.select_by_label(label).await;
        let arg = serde_json::to_value(&el).ctx("element reference")?;
        let chosen = self
            .client
            .execute(CHOSEN, vec![arg.clone()])
            .await
            .ctx(format!("reading the choice of {id}"))?;
        if chosen.as_str() == Some(label) {
            return Ok(());
        }
        let found = self
            .client
            .execute(CHOOSE, vec![arg, label.into()])
            .await
            .ctx(format!("choosing {label:?} in {id}"))?;
        check(
            found.as_bool() == Some(true),
            format!("{id} has no option {label:?}"),
        )
    }
}

/// A reqwest client with a 10 s timeout, for calls to the app's service.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

/// `curl -H "Authorization: Bearer $KEYPORT_KEY" http://127.0.0.1:PORT/hello`
/// → `http://127.0.0.1:PORT`.
pub fn gateway_from_curl(curl: &str) -> Result<String> {
    let url = curl
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .ctx(format!("a loopback URL in the try-it line {curl:?}"))?;
    Ok(url.trim_end_matches("/hello").to_string())
}

/// Create key → name, environment live, scope read only → submit → the
/// full key from the show-once dialog (left open). Screenshots of the form
/// and the dialog.
pub async fn create_live_read_key(app: &mut App, name: &str) -> Result<String> {
    create_live_key(app, name, false).await
}

/// A live key made in the UI with read, and write when `write`; its secret.
pub async fn create_live_key(app: &mut App, name: &str, write: bool) -> Result<String> {
    app.click("create-key-button").await?;
    app.type_into("key-name", name).await?;
    app.click("env-live").await?;
    check(app.is_selected("env-live").await?, "env live selected")?;
    if !app.is_selected("scope-read").await? {
        app.click("scope-read").await?;
    }
    check(app.is_selected("scope-read").await?, "scope read checked")?;
    if app.is_selected("scope-write").await? != write {
        app.click("scope-write").await?;
    }
    check(
        app.is_selected("scope-write").await? == write,
        format!("scope write checked: {write}"),
    )?;
    app.shot("create-key-form").await?;
    app.click("create-key-submit").await?;
    let shown = app
        .wait_text("show-once-secret", |t| t.trim().starts_with("to_live_"))
        .await?;
    let secret: String = shown.chars().filter(|c| !c.is_whitespace()).collect();
    check(
        secret.len() > 40,
        format!("a full key is shown, got {} characters", secret.len()),
    )?;
    app.shot("show-once").await?;
    Ok(secret)
}

/// A fresh first launch in its own sandbox, with `env` passed to the app
/// (tauri-driver hands its environment on to WebKitWebDriver, and that to the
/// app). Screenshots are named `<prefix>-NN-….png`.
pub async fn launch(prefix: &str, env: &[(&str, &str)]) -> (Sandbox, Driver, App) {
    let app_bin = app_bin().unwrap();
    let sandbox = Sandbox::new().unwrap();
    let shots = shots_dir();
    std::fs::create_dir_all(&shots).unwrap();
    let log = shots.join(format!("{prefix}-app.log"));
    let driver = Driver::start_with_env(&sandbox, &log, env).unwrap();
    let app = App::launch(&driver, &app_bin, prefix).await.unwrap();
    (sandbox, driver, app)
}

/// Closes the session, waits for the app to exit and removes the test's
/// keychain entry.
pub async fn tear_down(app: App, sandbox: Sandbox, driver: Driver) {
    app.close().await.unwrap();
    sandbox.wait_app_exited(Duration::from_secs(20)).unwrap();
    if let Ok((user, _)) = embedded_admin_key(&sandbox) {
        keychain_delete(&user);
    }
    drop(driver);
}
