//! The value log: the journal's raw inputs (up to the blob threshold) and canonical documents
//! appended to segment files, with sled holding 16-byte references to them.
//!
//! Why: sled 0.34 keeps values inside its B-tree nodes and rewrites a whole node (up to 17 entries)
//! when it consolidates or splits one; with 10–30 KB values that rewrote ~250 KB per 10 KB input
//! (nodes over 128 KB even go out as one file each), about half of the gateway's CPU. Appended
//! here, each value is written once.
//!
//! Layout: `values/00000001.log`, `00000002.log`, ... each at most [`SEGMENT_SIZE`] bytes (a value
//! larger than that gets a segment of its own). A record is `len: u32 LE`, `crc32: u32 LE` (of the
//! value), then the value. Nothing is ever removed: the journal keeps everything.
//!
//! Crash rules: [`ValueLog::sync`] makes every appended value durable, and the journal calls it
//! before it flushes sled, so every reference sled holds after a journal sync points at durable
//! bytes. sled may also write on its own between syncs; after a power loss (not a process crash:
//! written bytes are then in the page cache) such a reference can point at bytes that never
//! reached the disk. Reading it fails with [`JournalError::Corrupt`] (the checksum or the length
//! does not match, or the segment file does not exist). So only values that can be done without
//! or made again go here: a raw input is acknowledged only after a sync, so such a reference
//! belongs to an input its sender was never answered for (and sends again); a canonical document
//! is made again from its input's raw bytes (`pipeline::Canonicals`). Each time the log is opened,
//! appends go to a new segment, so nothing is ever written where a dangling reference may point:
//! it can only read as damaged, never as another value.

use super::{JournalError, Result};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A segment is closed once it holds this many bytes.
pub const SEGMENT_SIZE: u64 = 64 << 20;
const HEADER: usize = 8;
/// A segment's blocks are allocated this many bytes at a time, ahead of the appends.
const ALLOCATE_BY: u64 = 4 << 20;
/// Segments kept open for reading at most.
const MAX_OPEN_READERS: usize = 16;

/// Where a value is: its segment, the offset of its record, its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueRef {
    pub segment: u32,
    pub offset: u64,
    pub len: u32,
}

impl ValueRef {
    pub const ENCODED: usize = 16;

    pub fn encode(&self) -> [u8; Self::ENCODED] {
        let mut b = [0u8; Self::ENCODED];
        b[..4].copy_from_slice(&self.segment.to_be_bytes());
        b[4..12].copy_from_slice(&self.offset.to_be_bytes());
        b[12..].copy_from_slice(&self.len.to_be_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Option<ValueRef> {
        let b: &[u8; Self::ENCODED] = b.try_into().ok()?;
        Some(ValueRef {
            segment: u32::from_be_bytes(b[..4].try_into().ok()?),
            offset: u64::from_be_bytes(b[4..12].try_into().ok()?),
            len: u32::from_be_bytes(b[12..].try_into().ok()?),
        })
    }
}

struct Writer {
    /// The segment appends go to: a new one each time the log is opened, so that nothing is ever
    /// written where a reference from before a crash may point (see the crash rules above).
    segment: u32,
    /// Created by the first append to it.
    file: Option<Arc<File>>,
    len: u64,
    /// Bytes of the segment allocated so far (see [`preallocate`]).
    allocated: u64,
    /// Closed segments whose last appends are not synced yet.
    closed: Vec<(u32, Arc<File>)>,
    /// A segment file was created since the last sync: the directory is synced too.
    created: bool,
}

pub struct ValueLog {
    dir: PathBuf,
    writer: Mutex<Writer>,
    /// Open segments for reading.
    readers: Mutex<HashMap<u32, Arc<File>>>,
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Blob { path: path.display().to_string(), source }
}

impl ValueLog {
    /// Opens the log in `dir` (created if missing). Appends go to a new segment after the last one.
    pub fn open(dir: &Path) -> Result<ValueLog> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let last = std::fs::read_dir(dir)
            .map_err(io_error(dir))?
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".log")?.parse::<u32>().ok())
            .max()
            .unwrap_or(0);
        Ok(ValueLog {
            dir: dir.to_path_buf(),
            writer: Mutex::new(Writer { segment: last + 1, file: None, len: 0, allocated: 0, closed: Vec::new(), created: false }),
            readers: Mutex::new(HashMap::new()),
        })
    }

    fn path(dir: &Path, segment: u32) -> PathBuf {
        dir.join(format!("{segment:08}.log"))
    }

    /// Appends a value; durable after the next [`sync`](Self::sync).
    pub fn append(&self, value: &[u8]) -> Result<ValueRef> {
        let len = u32::try_from(value.len()).map_err(|_| JournalError::Storage(format!("a value of {} bytes is too large for the value log", value.len())))?;
        let mut header = [0u8; HEADER];
        header[..4].copy_from_slice(&len.to_le_bytes());
        header[4..].copy_from_slice(&crc32fast::hash(value).to_le_bytes());
        let mut w = self.writer.lock().expect("value log writer");
        if w.len > 0 && w.len + (HEADER + value.len()) as u64 > SEGMENT_SIZE {
            if let Some(old) = w.file.take() {
                let segment = w.segment;
                w.closed.push((segment, old));
            }
            (w.segment, w.len, w.allocated) = (w.segment + 1, 0, 0);
        }
        let path = Self::path(&self.dir, w.segment);
        let file = match &w.file {
            Some(f) => f.clone(),
            None => {
                let f = Arc::new(OpenOptions::new().create_new(true).write(true).open(&path).map_err(io_error(&path))?);
                w.file = Some(f.clone());
                w.created = true;
                f
            }
        };
        let at = ValueRef { segment: w.segment, offset: w.len, len };
        let end = at.offset + (HEADER + value.len()) as u64;
        if end > w.allocated {
            let more = (end - w.allocated).max(ALLOCATE_BY);
            preallocate(&file, w.allocated, more).map_err(io_error(&path))?;
            w.allocated += more;
        }
        // At an explicit offset: a write that fails half-way is overwritten by the next append.
        // One write for small values (header and value together); large ones in two.
        if value.len() <= 64 << 10 {
            let mut buf = Vec::with_capacity(HEADER + value.len());
            buf.extend_from_slice(&header);
            buf.extend_from_slice(value);
            file.write_all_at(&buf, at.offset)
        } else {
            file.write_all_at(&header, at.offset).and_then(|()| file.write_all_at(value, at.offset + HEADER as u64))
        }
        .map_err(io_error(&path))?;
        w.len += (HEADER + value.len()) as u64;
        Ok(at)
    }

    /// Reads a value back, checking its length and checksum.
    pub fn read(&self, at: ValueRef) -> Result<Vec<u8>> {
        let path = Self::path(&self.dir, at.segment);
        let corrupt = |message: String| JournalError::Corrupt { key: format!("{} at offset {}", path.display(), at.offset), message };
        let file = {
            let mut readers = self.readers.lock().expect("value log readers");
            match readers.get(&at.segment) {
                Some(f) => f.clone(),
                None => {
                    let f = Arc::new(File::open(&path).map_err(|e| match e.kind() {
                        // Segments are made at their first append and their directory synced at the
                        // next sync: a power loss before it can take the file itself.
                        std::io::ErrorKind::NotFound => corrupt("the segment does not exist (not written before a power loss?)".into()),
                        _ => io_error(&path)(e),
                    })?);
                    // Reads are mostly of recent segments; old ones (an operator looking back) do not
                    // pile up open files.
                    if readers.len() >= MAX_OPEN_READERS {
                        readers.clear();
                    }
                    readers.insert(at.segment, f.clone());
                    f
                }
            }
        };
        let mut buf = vec![0u8; HEADER + at.len as usize];
        file.read_exact_at(&mut buf, at.offset).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => corrupt(format!("the segment ends before the {} bytes of the value (not written before a power loss?)", at.len)),
            _ => io_error(&path)(e),
        })?;
        let len = u32::from_le_bytes(buf[..4].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(buf[4..HEADER].try_into().expect("4 bytes"));
        if len != at.len {
            return Err(corrupt(format!("the record holds {len} bytes, the reference says {}", at.len)));
        }
        buf.drain(..HEADER);
        if crc32fast::hash(&buf) != crc {
            return Err(corrupt("checksum mismatch".into()));
        }
        Ok(buf)
    }

    /// Everything appended so far is on disk when this returns.
    pub fn sync(&self) -> Result<()> {
        let (files, created) = {
            let mut w = self.writer.lock().expect("value log writer");
            let current = w.file.clone().map(|f| (w.segment, f));
            let created = std::mem::take(&mut w.created);
            (std::mem::take(&mut w.closed).into_iter().chain(current).collect::<Vec<_>>(), created)
        };
        let synced = files.into_iter().try_for_each(|(segment, f)| f.sync_data().map_err(io_error(&Self::path(&self.dir, segment))));
        // New segment files: their directory entries too.
        let synced = synced.and_then(|()| if created { File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io_error(&self.dir)) } else { Ok(()) });
        if synced.is_err() && created {
            self.writer.lock().expect("value log writer").created = true;
        }
        synced
    }
}

/// Allocates a segment's blocks ahead of its appends, [`ALLOCATE_BY`] at a time, as databases do for
/// their write-ahead logs: appending to a growing file makes each sync allocate the blocks written
/// since the last one (ext4's delayed allocation). One `fdatasync` of the growing log was measured at 105 ms in the gateway bench
/// (p99 spikes at 500 uploads/s); such spikes were seen with sled alone too, so this removes one
/// cause, not every one. The file's length grows by whole steps; the bytes past the last record
/// read as zeros, so a reference there reads as damaged (its length does not match).
fn preallocate(f: &File, offset: u64, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let off_t = |n: u64| libc::off_t::try_from(n).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput));
    // SAFETY: `fallocate` on a file descriptor the `File` owns and keeps open for the call.
    match unsafe { libc::fallocate(f.as_raw_fd(), 0, off_t(offset)?, off_t(len)?) } {
        0 => Ok(()),
        _ => {
            let e = std::io::Error::last_os_error();
            // Filesystems without fallocate: appends still work, only without the blocks set aside.
            if e.raw_os_error() == Some(libc::EOPNOTSUPP) {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("edigate-values-{}-{}", std::process::id(), fastrand::u64(..)));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn values_survive_a_reopen_and_appends_go_on_after_them() {
        let dir = tempdir();
        let (a, b) = {
            let log = ValueLog::open(&dir).unwrap();
            let a = log.append(b"first").unwrap();
            let b = log.append(&vec![7u8; 100_000]).unwrap();
            log.sync().unwrap();
            (a, b)
        };
        let log = ValueLog::open(&dir).unwrap();
        assert_eq!(log.read(a).unwrap(), b"first");
        assert_eq!(log.read(b).unwrap(), vec![7u8; 100_000]);
        let c = log.append(b"third").unwrap();
        assert_eq!((c.segment, c.offset), (2, 0), "a new segment after a reopen");
        assert_eq!(log.read(c).unwrap(), b"third");
        assert_eq!(ValueRef::decode(&c.encode()), Some(c));
        // A reopen without appends makes no file.
        drop(log);
        drop(ValueLog::open(&dir).unwrap());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
        // Blocks are set aside a step at a time: a small segment stays small.
        assert_eq!(std::fs::metadata(dir.join("00000002.log")).unwrap().len(), ALLOCATE_BY);
    }

    #[test]
    fn a_full_segment_is_closed_and_a_new_one_begun() {
        let dir = tempdir();
        let log = ValueLog::open(&dir).unwrap();
        let big = vec![1u8; (SEGMENT_SIZE / 2) as usize];
        let refs: Vec<ValueRef> = (0..3).map(|_| log.append(&big).unwrap()).collect();
        assert_eq!(refs.iter().map(|r| r.segment).collect::<Vec<_>>(), [1, 2, 3]);
        log.sync().unwrap();
        assert!(refs.iter().all(|r| log.read(*r).unwrap() == big));
        assert_eq!(log.readers.lock().unwrap().len(), 3);
    }

    #[test]
    fn damaged_or_missing_bytes_are_reported_not_returned() {
        let dir = tempdir();
        let log = ValueLog::open(&dir).unwrap();
        let a = log.append(b"ISA*00*...~").unwrap();
        log.sync().unwrap();
        // A flipped byte in the value.
        let path = dir.join("00000001.log");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[HEADER + 3] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let log = ValueLog::open(&dir).unwrap();
        let e = log.read(a).unwrap_err().to_string();
        assert!(e.contains("00000001.log at offset 0") && e.contains("checksum mismatch"), "{e}");
        // A reference past the end (sled wrote it, the value never reached the disk) stays so:
        // what is appended after the reopen goes elsewhere.
        let past = ValueRef { segment: 1, offset: bytes.len() as u64, len: 11 };
        let d = log.append(b"ISA*00*...~").unwrap();
        assert_ne!(d.segment, past.segment);
        let e = log.read(past).unwrap_err().to_string();
        assert!(e.contains("the segment ends before"), "{e}");
    }
}
