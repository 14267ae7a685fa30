//! The write-ahead log's framing and its writer. A record is
//! `len u32 | crc32 u32 | seq u64 | time_ms u64 | payload`, little-endian;
//! the CRC covers seq, time and payload, `len` counts the payload. A zero
//! length never frames a record, so zeroed space after the last record
//! reads as a clean end. One record holds one group commit's changes of one
//! shard, so a torn record loses a whole group, never part of one.

use cores::disk::Disk;
use std::io;

/// Bytes before the payload.
pub const HEADER_BYTES: usize = 24;
/// No single record may claim more than this (a corrupt length must not
/// make the reader allocate or skip gigabytes).
pub const RECORD_BYTES_MAX: usize = 1 << 30;

/// One decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub seq: u64,
    pub time_ms: u64,
    pub payload: &'a [u8],
}

/// How the log ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// The last record is complete and nothing but zeros follows.
    Clean,
    /// The last record is incomplete or fails its checksum and nothing valid
    /// follows: a write the crash interrupted. Cut at `offset`.
    Torn { offset: usize },
    /// A bad record with valid records after it, or a sequence gap: the file
    /// is damaged, not merely cut short.
    Corrupt { offset: usize, reason: &'static str },
}

/// Frames `payload` as record `seq`.
pub fn frame(seq: u64, time_ms: u64, payload: &[u8], out: &mut Vec<u8>) {
    assert!(
        !payload.is_empty() && payload.len() <= RECORD_BYTES_MAX,
        "record payload size"
    );
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    hasher.update(&time_ms.to_le_bytes());
    hasher.update(payload);
    out.extend_from_slice(&hasher.finalize().to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&time_ms.to_le_bytes());
    out.extend_from_slice(payload);
}

fn parse_at(data: &[u8], offset: usize) -> Option<(Record<'_>, usize)> {
    let header = data.get(offset..offset + HEADER_BYTES)?;
    let word = |i: usize| u64::from_le_bytes(header[i..i + 8].try_into().expect("8 bytes"));
    let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    if len == 0 || len > RECORD_BYTES_MAX {
        return None;
    }
    let payload = data.get(offset + HEADER_BYTES..offset + HEADER_BYTES + len)?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[8..24]);
    hasher.update(payload);
    if hasher.finalize() != crc {
        return None;
    }
    Some((
        Record {
            seq: word(8),
            time_ms: word(16),
            payload,
        },
        offset + HEADER_BYTES + len,
    ))
}

/// Whether any valid record starts at some offset in `data[from..]`: tells a
/// torn tail (nothing valid after the damage) from corruption in the middle.
fn valid_record_after(data: &[u8], from: usize) -> bool {
    (from..data.len().saturating_sub(HEADER_BYTES)).any(|at| parse_at(data, at).is_some())
}

/// Reads every valid record from the start of `data`, checking that
/// sequence numbers follow `first_seq` without gaps (when given), and says
/// how the log ends.
pub fn scan(data: &[u8], first_seq: Option<u64>) -> (Vec<Record<'_>>, Tail) {
    let mut records = Vec::new();
    let mut offset = 0;
    let mut expected = first_seq;
    while offset < data.len() {
        match parse_at(data, offset) {
            Some((record, next)) => {
                if expected.is_some_and(|seq| seq != record.seq) {
                    return (
                        records,
                        Tail::Corrupt {
                            offset,
                            reason: "sequence number out of order",
                        },
                    );
                }
                expected = Some(record.seq + 1);
                records.push(record);
                offset = next;
            }
            None => {
                if data[offset..].iter().all(|&b| b == 0) {
                    return (records, Tail::Clean);
                }
                if valid_record_after(data, offset + 1) {
                    return (
                        records,
                        Tail::Corrupt {
                            offset,
                            reason: "invalid record followed by valid ones",
                        },
                    );
                }
                return (records, Tail::Torn { offset });
            }
        }
    }
    (records, Tail::Clean)
}

/// Appends framed records to a log file and syncs them. A failed write or
/// sync leaves `offset` where it was, so the same records are written again
/// (over any torn remains) by the next attempt.
pub struct LogWriter<D: Disk> {
    disk: D,
    offset: u64,
    next_seq: u64,
    /// The file's blocks are allocated (and its size set) up to here.
    reserved: u64,
    /// Allocation step (RESERVE_BYTES; smaller in simulations).
    reserve_step: u64,
}

/// How far ahead of the last record the file is allocated: an fdatasync
/// that need not record a new file size costs about 0.14 ms here instead
/// of 0.19 ms (measured with pwrite + fdatasync of 800-byte appends on
/// ext4). Zeros after the last record read as the log's clean end.
pub const RESERVE_BYTES: u64 = 16 << 20;

impl<D: Disk> LogWriter<D> {
    /// A writer appending at `offset`, numbering from `next_seq`.
    pub fn new(disk: D, offset: u64, next_seq: u64) -> Self {
        LogWriter {
            disk,
            offset,
            next_seq,
            reserved: 0,
            reserve_step: RESERVE_BYTES,
        }
    }

    /// Allocates the file ahead in steps of `bytes` instead.
    pub fn with_reserve_step(mut self, bytes: u64) -> Self {
        assert!(bytes > 0);
        self.reserve_step = bytes;
        self
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub fn disk(&self) -> &D {
        &self.disk
    }

    /// Writes `payload` as the next record and, with `sync`, makes it
    /// durable. Returns the record's sequence number once done.
    pub async fn commit(&mut self, payload: &[u8], time_ms: u64, sync: bool) -> io::Result<u64> {
        let seq = self.next_seq;
        let mut framed = Vec::with_capacity(HEADER_BYTES + payload.len());
        frame(seq, time_ms, payload, &mut framed);
        let len = framed.len() as u64;
        if self.offset + len > self.reserved {
            let want = (self.offset + len).div_ceil(self.reserve_step) * self.reserve_step;
            self.disk.reserve(want)?;
            self.reserved = want;
        }
        self.disk.write_at(framed, self.offset).await?;
        if sync {
            self.disk.sync().await?;
        }
        self.offset += len;
        self.next_seq += 1;
        Ok(seq)
    }

    /// Syncs what was written (appendfsync everysec).
    pub async fn sync(&mut self) -> io::Result<()> {
        self.disk.sync().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cores::disk::MemFile;

    fn payload(seed: u64, n: usize) -> Vec<u8> {
        (0..n.max(1))
            .map(|i| (seed.wrapping_mul(31).wrapping_add(i as u64 * 7)) as u8 | 1)
            .collect()
    }

    #[test]
    fn records_round_trip_and_zero_padding_is_a_clean_end() {
        let mut log = Vec::new();
        for seq in 1..=5 {
            frame(seq, 1000 + seq, &payload(seq, seq as usize * 10), &mut log);
        }
        log.extend_from_slice(&[0; 4096]);
        let (records, tail) = scan(&log, Some(1));
        assert_eq!(tail, Tail::Clean);
        assert_eq!(records.len(), 5);
        assert_eq!(records[2].payload, &payload(3, 30)[..]);
        assert_eq!(records[4].time_ms, 1005);
    }

    #[test]
    fn every_cut_is_a_torn_tail_with_all_whole_records_kept() {
        let mut log = Vec::new();
        let mut ends = Vec::new();
        for seq in 1..=4 {
            frame(seq, 0, &payload(seq, 40), &mut log);
            ends.push(log.len());
        }
        for cut in 0..log.len() {
            let (records, tail) = scan(&log[..cut], Some(1));
            let whole = ends.iter().filter(|&&e| e <= cut).count();
            assert_eq!(records.len(), whole, "cut at {cut}");
            if ends.contains(&cut) || cut == 0 {
                assert_eq!(tail, Tail::Clean, "cut at {cut}");
            } else {
                assert!(matches!(tail, Tail::Torn { .. }), "cut at {cut}: {tail:?}");
            }
        }
    }

    #[test]
    fn damage_in_the_middle_is_corruption_not_a_tail() {
        let mut log = Vec::new();
        for seq in 1..=4 {
            frame(seq, 0, &payload(seq, 40), &mut log);
        }
        let record = HEADER_BYTES + 40;
        for at in [0, 5, record + 30, 2 * record + HEADER_BYTES] {
            let mut damaged = log.clone();
            damaged[at] ^= 0x40;
            let (_, tail) = scan(&damaged, Some(1));
            assert!(matches!(tail, Tail::Corrupt { .. }), "flip at {at}: {tail:?}");
        }
        // A flip inside the last record is indistinguishable from a torn write.
        let mut damaged = log.clone();
        let last = log.len() - 3;
        damaged[last] ^= 1;
        assert_eq!(scan(&damaged, Some(1)).1, Tail::Torn { offset: 3 * record });
        // A sequence gap is corruption.
        let mut gap = Vec::new();
        frame(1, 0, b"a", &mut gap);
        frame(3, 0, b"b", &mut gap);
        assert!(matches!(scan(&gap, Some(1)).1, Tail::Corrupt { .. }));
    }

    /// Seeded simulation: a writer commits records through a disk that
    /// fails writes (leaving torn bytes) and syncs at random, and crashes at
    /// random points losing unsynced bytes (some torn prefix survives).
    /// Every commit that returned Ok with sync must survive every crash, in
    /// order, and recovery must never read garbage.
    #[test]
    fn simulated_faults_never_lose_an_acknowledged_record() {
        let seeds: u64 = std::env::var("TESSERA_WAL_SIM_SEEDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(300);
        for seed in 1..=seeds {
            run_simulation(seed);
        }
    }

    fn run_simulation(seed: u64) {
        let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move |bound: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % bound.max(1)
        };
        let file = MemFile::default();
        let mut acked: Vec<Vec<u8>> = Vec::new();
        // Space is allocated ahead in small steps: zeros follow the records.
        let mut writer = LogWriter::new(file.clone(), 0, 1).with_reserve_step(256);
        for step in 0..200u64 {
            let choice = next(100);
            if choice < 8 {
                // Crash and recover: truncate at the torn tail, as startup does.
                file.state.borrow_mut().crash(next(64) as usize);
                let image = file.state.borrow().written.clone();
                let (records, tail) = scan(&image, Some(1));
                let tail_ok = matches!(tail, Tail::Clean | Tail::Torn { .. });
                assert!(tail_ok, "seed {seed} step {step}: {tail:?}");
                assert!(
                    records.len() >= acked.len(),
                    "seed {seed} step {step}: lost acknowledged records"
                );
                for (record, expected) in records.iter().zip(&acked) {
                    assert_eq!(record.payload, &expected[..], "seed {seed} step {step}");
                }
                // Records that made it without an acknowledgement are kept too
                // (like Redis, a write may survive without its reply).
                acked = records.iter().map(|r| r.payload.to_vec()).collect();
                let end = records.last().map_or(0, |_| {
                    records.iter().map(|r| HEADER_BYTES + r.payload.len()).sum::<usize>()
                });
                {
                    let mut state = file.state.borrow_mut();
                    state.written.truncate(end);
                    state.durable = state.written.clone();
                }
                writer = LogWriter::new(file.clone(), end as u64, acked.len() as u64 + 1).with_reserve_step(256);
                continue;
            }
            if choice < 14 {
                file.state.borrow_mut().fail_next_write = Some(next(40) as usize);
            } else if choice < 20 {
                file.state.borrow_mut().fail_next_sync = true;
            }
            let body = payload(seed ^ step, 1 + next(60) as usize);
            let result = futures_lite::future::block_on(writer.commit(&body, step, true));
            if result.is_ok() {
                acked.push(body);
            } else {
                // Not acknowledged; the writer retries the same position. The
                // failed record may or may not survive: reconcile on the next
                // successful commit by re-reading the durable image.
                let image = file.state.borrow().written.clone();
                let (records, _) = scan(&image, Some(1));
                acked = records.iter().map(|r| r.payload.to_vec()).collect();
                acked.truncate(writer.next_seq() as usize - 1);
            }
        }
    }
}
