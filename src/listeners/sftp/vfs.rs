//! What a partner sees over SFTP: a virtual root with three directories, and nothing else.
//!
//! | path | what | may |
//! |---|---|---|
//! | `/inbound/` | uploads: a file becomes an input when it is closed (or renamed from a temporary name) | write, rename, `ls` (this session's staged and taken files), `stat` |
//! | `/outbound/` | `DATA/outbox/PARTNER/`: acknowledgments and documents to pick up | `ls`, `stat`, `get` (from any offset), `rm` (moves the file to `archive/`) |
//! | `/archive/` | `DATA/archive/PARTNER/`: what the partner picked up | `ls`, `stat`, `get` |
//!
//! Paths are resolved by [`resolve`] into a [`VPath`] before anything else is done: `..` above the
//! root, names that are not one plain component, and any directory other than the three are refused
//! there, so no request can name a file outside the partner's own two directories. Files on disk are
//! opened only when they are regular files (never through a symlink).

use super::Shared;
use crate::pipeline::Upload;
use russh_sftp::protocol::{Attrs, Data, File, FileAttributes, Handle, Name, OpenFlags, Status, StatusCode, Version};
use russh_sftp::server::StatusReply;
use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// One of the partner's three directories.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    Inbound,
    Outbound,
    Archive,
}

impl Area {
    fn name(self) -> &'static str {
        match self {
            Area::Inbound => "inbound",
            Area::Outbound => "outbound",
            Area::Archive => "archive",
        }
    }
}

/// A resolved path: the root, one of the directories, or a file name in one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VPath {
    Root,
    Dir(Area),
    File(Area, String),
}

impl VPath {
    pub fn display(&self) -> String {
        match self {
            VPath::Root => "/".into(),
            VPath::Dir(a) => format!("/{}", a.name()),
            VPath::File(a, n) => format!("/{}/{n}", a.name()),
        }
    }
}

/// Why a path was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("{0:?} leads above your root (/inbound, /outbound, /archive)")]
    Escapes(String),
    #[error("no such directory {0:?}: your root has inbound/, outbound/ and archive/ only")]
    NoSuchDir(String),
    #[error("bad file name {0:?}: {1}")]
    BadName(String, &'static str),
}

impl From<PathError> for StatusReply {
    fn from(e: PathError) -> StatusReply {
        let code = match e {
            PathError::Escapes(_) => StatusCode::PermissionDenied,
            PathError::NoSuchDir(_) => StatusCode::NoSuchFile,
            PathError::BadName(..) => StatusCode::Failure,
        };
        code.with_message(e.to_string())
    }
}

/// Resolves a client's path (absolute, or relative to the root, where every session starts).
pub fn resolve(path: &str) -> Result<VPath, PathError> {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(PathError::Escapes(path.to_string()));
                }
            }
            c => parts.push(c),
        }
    }
    let area = |d: &str| match d {
        "inbound" => Ok(Area::Inbound),
        "outbound" => Ok(Area::Outbound),
        "archive" => Ok(Area::Archive),
        _ => Err(PathError::NoSuchDir(format!("/{d}"))),
    };
    match parts.as_slice() {
        [] => Ok(VPath::Root),
        [d] => Ok(VPath::Dir(area(d)?)),
        [d, n] => {
            let a = area(d)?;
            check_name(n).map_err(|why| PathError::BadName(n.to_string(), why))?;
            Ok(VPath::File(a, n.to_string()))
        }
        [d, ..] => {
            area(d)?;
            Err(PathError::NoSuchDir(format!("/{}", parts[..parts.len() - 1].join("/"))))
        }
    }
}

/// A file name the gateway will keep: one plain component that means the same on every system.
pub fn check_name(n: &str) -> Result<(), &'static str> {
    if n.len() > 255 {
        return Err("longer than 255 bytes");
    }
    if n.chars().any(|c| c.is_control() || c == '\\') {
        return Err("control characters and backslashes are not allowed");
    }
    if n.trim() != n {
        return Err("leading or trailing spaces are not allowed");
    }
    Ok(())
}

/// Upload names that clients use while a transfer is under way (`put` to a temporary name, then
/// `rename`): such a file is held until it is renamed to a final name, and never taken as it is.
pub fn is_temporary(n: &str) -> bool {
    let l = n.to_ascii_lowercase();
    l.starts_with('.') || [".part", ".filepart", ".tmp", ".partial", ".uploading"].iter().any(|s| l.ends_with(s))
}

/// Upload bytes held in memory, counted against the server's budget while they live.
pub struct Buffer {
    bytes: Vec<u8>,
    shared: Arc<Shared>,
}

impl Buffer {
    fn new(shared: Arc<Shared>) -> Buffer {
        Buffer { bytes: Vec::new(), shared }
    }

    /// Writes at `offset` (a gap is filled with zeros), within the file size limit and the budget.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), StatusReply> {
        let end = offset.saturating_add(data.len() as u64);
        let limit = self.shared.config.max_file_bytes as u64;
        if end > limit {
            return Err(StatusCode::Failure.with_message(format!("file is over the size limit of {limit} bytes; nothing of it is kept")));
        }
        let (end, offset) = (end as usize, offset as usize);
        if end > self.bytes.len() {
            let grow = end - self.bytes.len();
            let before = self.shared.buffered.fetch_add(grow, Ordering::Relaxed);
            if before + grow > self.shared.config.max_buffered_bytes {
                self.shared.buffered.fetch_sub(grow, Ordering::Relaxed);
                return Err(StatusCode::Failure.with_message("the gateway holds too many unfinished uploads; try again in a moment"));
            }
            self.bytes.resize(end, 0);
        }
        self.bytes[offset..end].copy_from_slice(data);
        Ok(())
    }

    fn take(mut self) -> Vec<u8> {
        let b = std::mem::take(&mut self.bytes);
        self.shared.buffered.fetch_sub(b.len(), Ordering::Relaxed);
        b
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        self.shared.buffered.fetch_sub(self.bytes.len(), Ordering::Relaxed);
    }
}

enum Open {
    Upload { name: String, buf: Buffer },
    Read { file: std::fs::File },
    Dir { entries: Option<Vec<File>> },
    /// An upload whose write failed: nothing of it is kept.
    Failed,
}

/// Handles a session may hold open at once.
const MAX_HANDLES: usize = 64;

/// One partner's SFTP session (one per `sftp` subsystem channel).
pub struct Files {
    shared: Arc<Shared>,
    partner: String,
    handles: HashMap<String, Open>,
    next: u64,
    /// Uploads under a temporary name, waiting for their rename.
    staged: BTreeMap<String, Buffer>,
    /// Files taken in this session: name → size (so that `ls` and `stat` after `put` work).
    taken: BTreeMap<String, u64>,
    started: bool,
}

impl Files {
    pub fn new(shared: Arc<Shared>, partner: String) -> Files {
        Files { shared, partner, handles: HashMap::new(), next: 0, staged: BTreeMap::new(), taken: BTreeMap::new(), started: false }
    }

    fn dir(&self, a: Area) -> PathBuf {
        match a {
            Area::Inbound => PathBuf::new(),
            Area::Outbound => self.shared.outbox.join(&self.partner),
            Area::Archive => self.shared.archive.join(&self.partner),
        }
    }

    fn add(&mut self, o: Open) -> Result<String, StatusReply> {
        if self.handles.len() >= MAX_HANDLES {
            return Err(StatusCode::Failure.with_message(format!("too many open files (limit {MAX_HANDLES}); close some first")));
        }
        self.next += 1;
        let h = format!("h{}", self.next);
        self.handles.insert(h.clone(), o);
        Ok(h)
    }

    /// A regular file in outbound/ or archive/ (never a symlink), with its metadata.
    fn disk_file(&self, a: Area, name: &str) -> Result<(PathBuf, std::fs::Metadata), StatusReply> {
        let path = self.dir(a).join(name);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_file() => Ok((path, m)),
            _ => Err(StatusCode::NoSuchFile.with_message(format!("no such file /{}/{name}", a.name()))),
        }
    }

    /// Keeps an upload: durable in the journal when this returns Ok; processed in the background.
    async fn take(&mut self, name: String, buf: Buffer) -> Result<(), StatusReply> {
        let bytes = buf.take();
        let size = bytes.len() as u64;
        let up = Upload { partner: self.partner.clone(), channel: "sftp", filename: Some(name.clone()), bytes, correlation_id: None, once_key: None };
        let pipeline = self.shared.pipeline.clone();
        match pipeline.receive(up).await {
            Ok(rec) => {
                self.taken.insert(name, size);
                tokio::spawn(async move {
                    if let Err(e) = pipeline.process(rec.id, &rec.partner).await {
                        tracing::error!(intake = rec.id, "processing failed, will be retried at the next start: {e}");
                    }
                });
                Ok(())
            }
            Err(e) => {
                tracing::error!(partner = %self.partner, file = %name, "SFTP upload not kept: {e}");
                Err(StatusCode::Failure.with_message(format!("the gateway could not keep {name} ({e}); it was not taken: send it again")))
            }
        }
    }
}

fn dir_attrs() -> FileAttributes {
    FileAttributes { permissions: Some(0o40755), size: Some(0), mtime: Some(now()), atime: Some(now()), ..FileAttributes::empty() }
}

fn file_attrs(size: u64, mode: u32, mtime: u32) -> FileAttributes {
    FileAttributes { permissions: Some(0o100000 | mode), size: Some(size), mtime: Some(mtime), atime: Some(mtime), ..FileAttributes::empty() }
}

fn disk_attrs(m: &std::fs::Metadata, mode: u32) -> FileAttributes {
    let mtime = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs() as u32);
    file_attrs(m.len(), mode, mtime)
}

fn now() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as u32)
}

fn ok(id: u32) -> Status {
    Status { id, status_code: StatusCode::Ok, error_message: "Ok".into(), language_tag: "en-US".into() }
}

fn read_only(a: Area) -> StatusReply {
    StatusCode::PermissionDenied.with_message(format!("/{} is read-only: uploads go into /inbound", a.name()))
}

fn bad_handle() -> StatusReply {
    StatusCode::Failure.with_message("no such handle")
}

impl Files {
    fn open_file(&mut self, filename: &str, pflags: OpenFlags) -> Result<String, StatusReply> {
        let VPath::File(area, name) = resolve(filename)? else {
            return Err(StatusCode::Failure.with_message(format!("{filename} is a directory")));
        };
        let writing = pflags.intersects(OpenFlags::WRITE | OpenFlags::APPEND | OpenFlags::CREATE | OpenFlags::TRUNCATE);
        let handle = match (area, writing) {
            (Area::Inbound, true) => {
                let mut buf = Buffer::new(self.shared.clone());
                // Appending to a staged file (a resumed upload) continues it.
                if !pflags.contains(OpenFlags::TRUNCATE) {
                    if let Some(prev) = self.staged.remove(&name) {
                        buf = prev;
                    }
                }
                self.add(Open::Upload { name, buf })?
            }
            (Area::Inbound, false) => return Err(StatusCode::PermissionDenied.with_message("/inbound is write-only: files there are taken when they are closed")),
            (a, true) => return Err(read_only(a)),
            (a, false) => {
                let (path, _) = self.disk_file(a, &name)?;
                let file = std::fs::File::open(&path).map_err(|e| StatusCode::Failure.with_message(format!("cannot open /{}/{name}: {e}", a.name())))?;
                self.add(Open::Read { file })?
            }
        };
        Ok(handle)
    }


    /// A refused request, logged for operators (OpenSSH shows partners the status code only).
    fn refused<T>(&self, op: &str, path: &str, r: Result<T, StatusReply>) -> Result<T, StatusReply> {
        if let Err(e) = &r {
            tracing::warn!(partner = %self.partner, op, path, "SFTP request refused: {}", e.error_message.as_deref().unwrap_or("-"));
        }
        r
    }
}

impl russh_sftp::server::Handler for Files {
    type Error = StatusReply;

    fn unimplemented(&self) -> StatusReply {
        StatusCode::OpUnsupported.with_message("not supported by this server")
    }

    async fn init(&mut self, _version: u32, _extensions: HashMap<String, String>) -> Result<Version, StatusReply> {
        if std::mem::replace(&mut self.started, true) {
            return Err(StatusCode::BadMessage.with_message("the session was already initialised"));
        }
        Ok(Version::new())
    }

    async fn open(&mut self, id: u32, filename: String, pflags: OpenFlags, _attrs: FileAttributes) -> Result<Handle, StatusReply> {
        let r = self.open_file(&filename, pflags);
        self.refused("open", &filename, r).map(|handle| Handle { id, handle })
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, StatusReply> {
        match self.handles.remove(&handle).ok_or_else(bad_handle)? {
            Open::Upload { name, buf } => {
                if is_temporary(&name) {
                    self.staged.insert(name, buf);
                } else {
                    self.take(name, buf).await?;
                }
            }
            Open::Failed => return Err(StatusCode::Failure.with_message("the upload failed before its close: nothing of it was kept")),
            Open::Read { .. } | Open::Dir { .. } => {}
        }
        Ok(ok(id))
    }

    async fn read(&mut self, id: u32, handle: String, offset: u64, len: u32) -> Result<Data, StatusReply> {
        let Some(Open::Read { file }) = self.handles.get(&handle) else { return Err(bad_handle()) };
        let mut data = vec![0u8; len.min(256 * 1024) as usize];
        let n = file.read_at(&mut data, offset).map_err(|e| StatusCode::Failure.with_message(format!("read failed: {e}")))?;
        if n == 0 {
            return Err(StatusCode::Eof.into());
        }
        data.truncate(n);
        Ok(Data { id, data })
    }

    async fn write(&mut self, id: u32, handle: String, offset: u64, data: Vec<u8>) -> Result<Status, StatusReply> {
        let Some(Open::Upload { name, buf }) = self.handles.get_mut(&handle) else { return Err(bad_handle()) };
        match buf.write_at(offset, &data) {
            Ok(()) => Ok(ok(id)),
            Err(e) => {
                // The upload has failed: its bytes go now, and its close will not take it.
                let path = format!("/inbound/{name}");
                self.handles.insert(handle, Open::Failed);
                self.refused("write", &path, Err(e))
            }
        }
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, StatusReply> {
        let attrs = match resolve(&path)? {
            VPath::Root | VPath::Dir(_) => dir_attrs(),
            VPath::File(Area::Inbound, n) => match (self.staged.get(&n), self.taken.get(&n)) {
                (Some(b), _) => file_attrs(b.bytes.len() as u64, 0o600, now()),
                (None, Some(&size)) => file_attrs(size, 0o400, now()),
                _ => return Err(StatusCode::NoSuchFile.with_message(format!("no such file /inbound/{n}"))),
            },
            VPath::File(a, n) => disk_attrs(&self.disk_file(a, &n)?.1, if a == Area::Outbound { 0o600 } else { 0o400 }),
        };
        Ok(Attrs { id, attrs })
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, StatusReply> {
        self.stat(id, path).await
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Result<Attrs, StatusReply> {
        let attrs = match self.handles.get(&handle).ok_or_else(bad_handle)? {
            Open::Upload { buf, .. } => file_attrs(buf.bytes.len() as u64, 0o600, now()),
            Open::Read { file } => disk_attrs(&file.metadata().map_err(|e| StatusCode::Failure.with_message(e.to_string()))?, 0o400),
            Open::Dir { .. } => dir_attrs(),
            Open::Failed => file_attrs(0, 0o600, now()),
        };
        Ok(Attrs { id, attrs })
    }

    async fn setstat(&mut self, id: u32, path: String, _attrs: FileAttributes) -> Result<Status, StatusReply> {
        // Times and modes (`put -p`) are accepted and ignored: the journal keeps its own times.
        resolve(&path)?;
        Ok(ok(id))
    }

    async fn fsetstat(&mut self, id: u32, handle: String, _attrs: FileAttributes) -> Result<Status, StatusReply> {
        self.handles.get(&handle).ok_or_else(bad_handle)?;
        Ok(ok(id))
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, StatusReply> {
        let entries = match resolve(&path)? {
            VPath::Root => [Area::Inbound, Area::Outbound, Area::Archive].iter().map(|a| File::new(a.name(), dir_attrs())).collect(),
            VPath::Dir(Area::Inbound) => {
                let staged = self.staged.iter().map(|(n, b)| File::new(n.clone(), file_attrs(b.bytes.len() as u64, 0o600, now())));
                let taken = self.taken.iter().map(|(n, &s)| File::new(n.clone(), file_attrs(s, 0o400, now())));
                staged.chain(taken).collect()
            }
            VPath::Dir(a) => {
                let mut v = Vec::new();
                if let Ok(rd) = std::fs::read_dir(self.dir(a)) {
                    for e in rd.flatten() {
                        let name = e.file_name().to_string_lossy().into_owned();
                        match e.metadata() {
                            Ok(m) if m.file_type().is_file() && !name.starts_with('.') && check_name(&name).is_ok() => {
                                v.push(File::new(name, disk_attrs(&m, if a == Area::Outbound { 0o600 } else { 0o400 })));
                            }
                            _ => {}
                        }
                    }
                }
                v.sort_by(|a, b| a.filename.cmp(&b.filename));
                v
            }
            VPath::File(a, n) => return Err(StatusCode::NoSuchFile.with_message(format!("/{}/{n} is not a directory", a.name()))),
        };
        let handle = self.add(Open::Dir { entries: Some(entries) })?;
        Ok(Handle { id, handle })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, StatusReply> {
        let Some(Open::Dir { entries }) = self.handles.get_mut(&handle) else { return Err(bad_handle()) };
        match entries.take() {
            Some(files) if !files.is_empty() => Ok(Name { id, files }),
            _ => Err(StatusCode::Eof.into()),
        }
    }

    async fn remove(&mut self, id: u32, filename: String) -> Result<Status, StatusReply> {
        match resolve(&filename)? {
            VPath::File(Area::Outbound, n) => {
                let (from, _) = self.disk_file(Area::Outbound, &n)?;
                let dir = self.dir(Area::Archive);
                std::fs::create_dir_all(&dir)
                    .and_then(|_| std::fs::rename(&from, dir.join(&n)))
                    .map_err(|e| StatusCode::Failure.with_message(format!("cannot move /outbound/{n} to /archive: {e}")))?;
                tracing::info!(partner = %self.partner, file = %n, "picked up over SFTP: moved to archive/");
                let e = crate::journal::Event {
                    at: crate::journal::now(),
                    subject: format!("outbound:{}/{n}", self.partner),
                    state: crate::journal::State::Delivered,
                    cause: "picked up by the partner over SFTP (removed from outbound/, kept in archive/)".into(),
                };
                if let Err(err) = self.shared.pipeline.journal.record(&e) {
                    tracing::error!(partner = %self.partner, file = %n, "cannot record the pickup: {err}");
                }
                Ok(ok(id))
            }
            VPath::File(Area::Inbound, n) if self.staged.remove(&n).is_some() => Ok(ok(id)),
            VPath::File(Area::Inbound, n) => Err(StatusCode::NoSuchFile.with_message(format!("no unfinished upload /inbound/{n} (files taken cannot be removed)"))),
            VPath::File(a, _) => Err(read_only(a)),
            _ => Err(StatusCode::PermissionDenied.with_message("directories cannot be removed")),
        }
    }

    async fn rename(&mut self, id: u32, oldpath: String, newpath: String) -> Result<Status, StatusReply> {
        match (resolve(&oldpath)?, resolve(&newpath)?) {
            (VPath::File(Area::Inbound, from), VPath::File(Area::Inbound, to)) => {
                let buf = self.staged.remove(&from).ok_or_else(|| StatusCode::NoSuchFile.with_message(format!("no unfinished upload /inbound/{from}")))?;
                if is_temporary(&to) {
                    self.staged.insert(to, buf);
                } else {
                    self.take(to, buf).await?;
                }
                Ok(ok(id))
            }
            _ => Err(StatusCode::PermissionDenied.with_message("only uploads in /inbound can be renamed, within /inbound")),
        }
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, StatusReply> {
        let p = resolve(&path)?;
        Ok(Name { id, files: vec![File::dummy(p.display())] })
    }

    async fn mkdir(&mut self, _id: u32, path: String, _attrs: FileAttributes) -> Result<Status, StatusReply> {
        Err(StatusCode::PermissionDenied.with_message(format!("cannot make {path}: only inbound/, outbound/ and archive/ exist here")))
    }

    async fn rmdir(&mut self, _id: u32, _path: String) -> Result<Status, StatusReply> {
        Err(StatusCode::PermissionDenied.with_message("directories cannot be removed"))
    }

    async fn symlink(&mut self, _id: u32, _linkpath: String, _targetpath: String) -> Result<Status, StatusReply> {
        Err(StatusCode::PermissionDenied.with_message("symbolic links are not allowed"))
    }

    async fn readlink(&mut self, _id: u32, path: String) -> Result<Name, StatusReply> {
        Err(StatusCode::NoSuchFile.with_message(format!("{path} is not a symbolic link")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_inside_the_root_or_not_at_all() {
        assert_eq!(resolve("/").unwrap(), VPath::Root);
        assert_eq!(resolve(".").unwrap(), VPath::Root);
        assert_eq!(resolve("inbound").unwrap(), VPath::Dir(Area::Inbound));
        assert_eq!(resolve("/inbound/./po.edi").unwrap(), VPath::File(Area::Inbound, "po.edi".into()));
        assert_eq!(resolve("//outbound//ack.edi").unwrap(), VPath::File(Area::Outbound, "ack.edi".into()));
        assert_eq!(resolve("inbound/../outbound/a").unwrap(), VPath::File(Area::Outbound, "a".into()));
        assert!(matches!(resolve(".."), Err(PathError::Escapes(_))));
        assert!(matches!(resolve("/inbound/../../etc/passwd"), Err(PathError::Escapes(_))));
        assert!(matches!(resolve("../inbound/x"), Err(PathError::Escapes(_))));
        assert!(matches!(resolve("/etc/passwd"), Err(PathError::NoSuchDir(_))));
        assert!(matches!(resolve("/po.edi"), Err(PathError::NoSuchDir(_))));
        assert!(matches!(resolve("/inbound/a/b"), Err(PathError::NoSuchDir(_))));
        assert!(matches!(resolve("/inbound/a\\..\\b"), Err(PathError::BadName(..))));
        assert!(matches!(resolve("/inbound/a\u{0}b"), Err(PathError::BadName(..))));
        assert!(matches!(resolve(&format!("/inbound/{}", "x".repeat(256))), Err(PathError::BadName(..))));
    }

    #[test]
    fn temporary_names() {
        for n in [".po.edi", "po.edi.part", "po.edi.filepart", "PO.TMP", "x.partial"] {
            assert!(is_temporary(n), "{n}");
        }
        for n in ["po.edi", "part", "po.tmp.edi"] {
            assert!(!is_temporary(n), "{n}");
        }
    }
}
