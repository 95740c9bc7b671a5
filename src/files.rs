//! Writing output files (reports, snapshots). They list technicians' UPNs, IP addresses and privileged
//! access, so a new file is private to the user (0600 on unix), and a regular file is replaced
//! atomically: a reader sees the old file or the new one, never half of one, and a failed write leaves
//! the old file untouched. Anything that is not a regular file (`/dev/null`, `/dev/stdout`, a FIFO, a
//! terminal) is written through in place, never replaced.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `-` means stdout (`--output -`).
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Where `path` leads: a regular file to replace atomically (possibly through symlinks), a special file
/// to write in place, or nothing yet (a new file).
enum Target {
    Regular(PathBuf),
    Special,
    New,
}

fn target(path: &Path) -> std::io::Result<Target> {
    let link = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Target::New),
        Err(e) => return Err(e),
    };
    if link.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "it is a directory",
        ));
    }
    if link.file_type().is_symlink() {
        // `/dev/stdout`, `/dev/fd/N`, `/proc/self/fd/N` name an open stream (maybe a file the shell
        // opened for appending): write to it, never rename over it.
        if path.starts_with("/dev") || path.starts_with("/proc") {
            return Ok(Target::Special);
        }
        // Replace what the link points to, never the link itself.
        return match std::fs::metadata(path) {
            Ok(m) if m.is_file() => match std::fs::canonicalize(path) {
                // `/proc/self/fd/N` style links resolve to names that are not files to rename over.
                Ok(real) if !real.starts_with("/proc") && !real.starts_with("/dev") => {
                    Ok(Target::Regular(real))
                }
                _ => Ok(Target::Special),
            },
            Ok(m) if m.is_dir() => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "it is a directory",
            )),
            Ok(_) => Ok(Target::Special),
            // A dangling link: create the file it names, through the link.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Target::Special),
            Err(e) => Err(e),
        };
    }
    if link.is_file() {
        Ok(Target::Regular(path.to_path_buf()))
    } else {
        Ok(Target::Special)
    }
}

/// Writes `contents` to `path`: atomically for a regular file or a new path (a new file is 0600 on
/// unix; an existing file keeps its permissions), in place (appending) for anything else: a device, a
/// FIFO, a terminal, or a stream named under `/dev` or `/proc` (`/dev/stdout`).
pub fn write_atomic(path: &Path, contents: &str) -> std::io::Result<()> {
    write_atomic_with(path, |w| w.write_all(contents.as_bytes()))
}

/// [`write_atomic`] for output produced piece by piece (a fleet report): `write` streams into the
/// temporary file (or the special file), so the whole text is never held in memory.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    match target(path)? {
        Target::Regular(real) => replace(&real, write),
        Target::New => replace(path, write),
        Target::Special => {
            // Appending: a stream the shell opened (`>> file` behind `/dev/stdout`) keeps what it holds.
            let mut options = OpenOptions::new();
            options.append(true).create(true);
            private(&mut options);
            let file = options.open(path)?;
            let mut out = std::io::BufWriter::new(file);
            write(&mut out)?;
            out.flush()
        }
    }
}

#[cfg(unix)]
fn private(options: &mut OpenOptions) {
    use std::os::unix::fs::OpenOptionsExt;
    options.mode(0o600);
}

#[cfg(not(unix))]
fn private(_: &mut OpenOptions) {}

/// A temporary file in the same directory, flushed to disk, then renamed over `path`; on error the
/// temporary file is removed and `path` is untouched.
fn replace(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let file_name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a file path", path.display()),
        )
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    let tmp = dir.join(tmp_name);

    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        private(&mut options);
        let file = options.open(&tmp)?;
        if let Ok(meta) = std::fs::metadata(path) {
            file.set_permissions(meta.permissions())?;
        }
        let mut out = std::io::BufWriter::new(file);
        write(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    // Make the rename itself durable. Best effort: not every platform can open a directory.
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// #7: a new report or snapshot file is private to the user.
    #[cfg(unix)]
    #[test]
    fn new_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        write_atomic(&path, "{}\n").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}\n");
    }

    /// #16: a special file is written through, never replaced by a regular file.
    #[cfg(unix)]
    #[test]
    fn dev_null_stays_a_device() {
        use std::os::unix::fs::FileTypeExt;
        write_atomic(Path::new("/dev/null"), "x\n").unwrap();
        let m = std::fs::metadata("/dev/null").unwrap();
        assert!(m.file_type().is_char_device());
    }

    /// #16: a symlink to a regular file keeps being a symlink; the file it names is replaced.
    #[cfg(unix)]
    #[test]
    fn symlink_to_a_file_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.txt");
        std::fs::write(&real, "old").unwrap();
        let link = dir.path().join("link.txt");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomic(&link, "new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_atomic(dir.path(), "x").is_err());
    }

    #[test]
    fn dash_is_stdout() {
        assert!(is_stdout(Path::new("-")));
        assert!(!is_stdout(Path::new("-x")));
    }
}
