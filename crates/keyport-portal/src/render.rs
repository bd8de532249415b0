//! How the webview paints on a machine without a GPU.
//!
//! WebKitGTK paints with Skia on the GPU by default. With no GPU that GPU is
//! Mesa's software GL (llvmpipe), which compiles every new kind of drawing
//! (text, rounded borders, gradients, icons) to machine code with LLVM the
//! first time it is drawn: on a 2-core VM the portal's first frame spent
//! about 150 ms there (`perf record`, thread `SkiaGPUWorker`, `libLLVM`).
//! Skia's CPU painter needs no compiling, so without a GPU the portal asks
//! for it. A value the user set wins either way.

use std::ffi::OsStr;
use std::path::Path;

/// WebKitGTK's switch to Skia's CPU painter.
pub const CPU_PAINTING_ENV: &str = "WEBKIT_SKIA_ENABLE_CPU_RENDERING";

/// Whether to set [`CPU_PAINTING_ENV`]: only when the user has not set it and
/// `dri_dir` (normally `/dev/dri`) has no render node, i.e. no GPU that Mesa
/// could drive.
pub fn wants_cpu_painting(current: Option<&OsStr>, dri_dir: &Path) -> bool {
    current.is_none() && !has_render_node(dri_dir)
}

fn has_render_node(dri_dir: &Path) -> bool {
    std::fs::read_dir(dri_dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
    })
}

/// Applies the choice to this process's environment before the webview
/// starts. Call first thing in `main`, while the process has one thread.
pub fn choose_painter() {
    if cfg!(target_os = "linux")
        && wants_cpu_painting(
            std::env::var_os(CPU_PAINTING_ENV).as_deref(),
            Path::new("/dev/dri"),
        )
    {
        std::env::set_var(CPU_PAINTING_ENV, "1");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_render_node_means_cpu_painting() {
        let dir = tempfile::tempdir().unwrap();
        assert!(wants_cpu_painting(None, dir.path()));
        // A card node alone (display only) is not a render node.
        std::fs::write(dir.path().join("card0"), b"").unwrap();
        assert!(wants_cpu_painting(None, dir.path()));
        assert!(wants_cpu_painting(None, &dir.path().join("missing")));
    }

    #[test]
    fn a_render_node_keeps_the_gpu() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("renderD128"), b"").unwrap();
        assert!(!wants_cpu_painting(None, dir.path()));
    }

    #[test]
    fn the_users_setting_wins() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!wants_cpu_painting(Some(OsStr::new("0")), dir.path()));
        assert!(!wants_cpu_painting(Some(OsStr::new("1")), dir.path()));
    }
}
