//! The bytes of a streamed ZIP archive (APPNOTE 6.3.10), after Go's `archive/zip` writer:
//! local headers carry no CRC or sizes (flag 3: a data descriptor follows the data), the
//! descriptor has 8-byte sizes only when one of them needs it, and the central directory has a
//! ZIP64 extra field (§4.5.3) for each value past 32 bits, then ZIP64 end records (§4.3.14–16)
//! when the count, size or offset of the directory needs them. The local header never carries a
//! ZIP64 extra field: readers take the sizes from the central directory.

use chrono::{DateTime, Datelike, Timelike, Utc};

const LOCAL_HEADER: u32 = 0x0403_4b50;
const DATA_DESCRIPTOR: u32 = 0x0807_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const ZIP64_END: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const END: u32 = 0x0605_4b50;
const ZIP64_EXTRA: u16 = 0x0001;

/// Sizes and offsets at or past this need ZIP64 fields (the 32-bit field then holds it).
pub(super) const MAX32: u64 = 0xFFFF_FFFF;
const MAX16: u64 = 0xFFFF;

/// Bit 3: CRC and sizes are in the data descriptor. Bit 11: the name is UTF-8.
const FLAG_DESCRIPTOR: u16 = 0x0008;
const FLAG_UTF8: u16 = 0x0800;
const VERSION_DEFAULT: u16 = 20;
const VERSION_ZIP64: u16 = 45;
/// Made by Unix (upper byte 3), so readers apply the mode in the external attributes.
const MADE_BY: u16 = (3 << 8) | VERSION_ZIP64;
const MODE_FILE: u32 = 0o100_644;
const MODE_DIR: u32 = 0o040_755;
const MSDOS_DIR: u32 = 0x10;

/// How an entry's bytes are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Stored,
    Deflated,
}

impl Method {
    fn code(self) -> u16 {
        match self {
            Self::Stored => 0,
            Self::Deflated => 8,
        }
    }
}

/// MS-DOS time and date of `t`; MS-DOS time runs from 1980 to 2107, clamped to them.
pub(super) fn dos_time(t: DateTime<Utc>) -> (u16, u16) {
    let first = DateTime::from_timestamp(315_532_800, 0).unwrap_or_default();
    let last = DateTime::from_timestamp(4_354_819_198, 0).unwrap_or_default();
    let t = t.clamp(first, last);
    let time = (t.hour() << 11) | (t.minute() << 5) | (t.second() / 2);
    let date = ((t.year() as u32 - 1980) << 9) | (t.month() << 5) | t.day();
    (time as u16, date as u16)
}

/// One entry as the central directory describes it.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub name: String,
    pub method: Method,
    pub dir: bool,
    pub time: (u16, u16),
    pub crc: u32,
    pub compressed: u64,
    pub size: u64,
    /// Where its local header starts.
    pub offset: u64,
}

impl Entry {
    fn flags(&self) -> u16 {
        if self.dir {
            FLAG_UTF8
        } else {
            FLAG_UTF8 | FLAG_DESCRIPTOR
        }
    }

    fn zip64_sizes(&self) -> bool {
        self.size >= MAX32 || self.compressed >= MAX32
    }
}

/// Little-endian field writer.
struct Fields(Vec<u8>);

impl Fields {
    fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.0.extend_from_slice(v);
        self
    }
}

/// 32-bit field of a value that may have moved to the ZIP64 extra field.
fn field32(v: u64) -> u32 {
    v.min(MAX32) as u32
}

/// The local file header (§4.3.7): CRC and sizes 0 for files (they follow in the descriptor).
pub(super) fn local_header(entry: &Entry) -> Vec<u8> {
    let mut b = Fields::with_capacity(30 + entry.name.len());
    b.u32(LOCAL_HEADER)
        .u16(VERSION_DEFAULT)
        .u16(entry.flags())
        .u16(entry.method.code())
        .u16(entry.time.0)
        .u16(entry.time.1)
        .u32(0)
        .u32(0)
        .u32(0)
        .u16(entry.name.len() as u16)
        .u16(0)
        .bytes(entry.name.as_bytes());
    b.0
}

/// The data descriptor (§4.3.9) after a file's data: 8-byte sizes when either needs them.
pub(super) fn data_descriptor(entry: &Entry) -> Vec<u8> {
    let mut b = Fields::with_capacity(24);
    b.u32(DATA_DESCRIPTOR).u32(entry.crc);
    if entry.zip64_sizes() {
        b.u64(entry.compressed).u64(entry.size);
    } else {
        b.u32(entry.compressed as u32).u32(entry.size as u32);
    }
    b.0
}

/// The central directory header (§4.3.12), with a ZIP64 extra field holding the sizes (both,
/// as Go writes them) and the offset when they pass 32 bits.
pub(super) fn central_header(entry: &Entry) -> Vec<u8> {
    let sizes64 = entry.zip64_sizes();
    let offset64 = entry.offset >= MAX32;
    let mut extra = Fields::with_capacity(28);
    if sizes64 || offset64 {
        let len = if sizes64 { 16 } else { 0 } + if offset64 { 8 } else { 0 };
        extra.u16(ZIP64_EXTRA).u16(len);
        if sizes64 {
            extra.u64(entry.size).u64(entry.compressed);
        }
        if offset64 {
            extra.u64(entry.offset);
        }
    }
    let (compressed, size) = if sizes64 {
        (MAX32 as u32, MAX32 as u32)
    } else {
        (entry.compressed as u32, entry.size as u32)
    };
    let needs = if sizes64 || offset64 {
        VERSION_ZIP64
    } else {
        VERSION_DEFAULT
    };
    let attrs = if entry.dir {
        (MODE_DIR << 16) | MSDOS_DIR
    } else {
        MODE_FILE << 16
    };
    let mut b = Fields::with_capacity(46 + entry.name.len() + extra.0.len());
    b.u32(CENTRAL_HEADER)
        .u16(MADE_BY)
        .u16(needs)
        .u16(entry.flags())
        .u16(entry.method.code())
        .u16(entry.time.0)
        .u16(entry.time.1)
        .u32(entry.crc)
        .u32(compressed)
        .u32(size)
        .u16(entry.name.len() as u16)
        .u16(extra.0.len() as u16)
        .u16(0) // comment
        .u16(0) // disk number
        .u16(0) // internal attributes
        .u32(attrs)
        .u32(field32(entry.offset))
        .bytes(entry.name.as_bytes())
        .bytes(&extra.0);
    b.0
}

/// The end records after a central directory of `records` entries, `size` bytes long and
/// starting at `start`: ZIP64 end record and locator first when any value needs them.
pub(super) fn end_records(records: u64, start: u64, size: u64) -> Vec<u8> {
    let mut b = Fields::with_capacity(22 + 56 + 20);
    let (mut records16, mut size32, mut start32) = (records, size, start);
    if records >= MAX16 || size >= MAX32 || start >= MAX32 {
        let zip64_end = start + size;
        b.u32(ZIP64_END)
            .u64(56 - 12) // its length after this field
            .u16(MADE_BY)
            .u16(VERSION_ZIP64)
            .u32(0) // this disk
            .u32(0) // the directory's disk
            .u64(records)
            .u64(records)
            .u64(size)
            .u64(start);
        b.u32(ZIP64_LOCATOR).u32(0).u64(zip64_end).u32(1);
        // The maximum values send readers to the ZIP64 record.
        (records16, size32, start32) = (MAX16, MAX32, MAX32);
    }
    b.u32(END)
        .u16(0)
        .u16(0)
        .u16(records16.min(MAX16) as u16)
        .u16(records16.min(MAX16) as u16)
        .u32(field32(size32))
        .u32(field32(start32))
        .u16(0);
    b.0
}

/// Longest name a header can hold.
pub(super) const MAX_NAME: usize = u16::MAX as usize;

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
    }
    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }
    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }

    fn entry(size: u64, compressed: u64, offset: u64) -> Entry {
        Entry {
            name: "big.bin".into(),
            method: Method::Deflated,
            dir: false,
            time: (0, 33),
            crc: 0xDEAD_BEEF,
            compressed,
            size,
            offset,
        }
    }

    #[test]
    fn small_entries_have_no_zip64_fields() {
        let e = entry(10, 8, 100);
        let cd = central_header(&e);
        assert_eq!(cd.len(), 46 + 7);
        assert_eq!(u16_at(&cd, 6), VERSION_DEFAULT);
        assert_eq!(u32_at(&cd, 20), 8);
        assert_eq!(u32_at(&cd, 24), 10);
        assert_eq!(u16_at(&cd, 30), 0, "no extra field");
        assert_eq!(u32_at(&cd, 42), 100);
        let dd = data_descriptor(&e);
        assert_eq!(dd.len(), 16);
        assert_eq!(u32_at(&dd, 12), 10);
        let lfh = local_header(&e);
        assert_eq!(u16_at(&lfh, 6), FLAG_UTF8 | FLAG_DESCRIPTOR);
        assert_eq!(u32_at(&lfh, 14), 0, "CRC in the descriptor");
    }

    #[test]
    fn zip64_sizes_and_offsets_go_to_the_extra_field() {
        let size = 5 << 30;
        let e = entry(size, MAX32, 9 << 30);
        let cd = central_header(&e);
        assert_eq!(u16_at(&cd, 6), VERSION_ZIP64);
        assert_eq!(u32_at(&cd, 16), 0xDEAD_BEEF);
        assert_eq!(u32_at(&cd, 20), u32::MAX);
        assert_eq!(u32_at(&cd, 24), u32::MAX);
        assert_eq!(u16_at(&cd, 30), 28);
        assert_eq!(u32_at(&cd, 42), u32::MAX);
        let extra = &cd[46 + 7..];
        assert_eq!(u16_at(extra, 0), ZIP64_EXTRA);
        assert_eq!(u16_at(extra, 2), 24);
        // Fixed order: uncompressed, compressed, offset.
        assert_eq!(u64_at(extra, 4), size);
        assert_eq!(u64_at(extra, 12), MAX32);
        assert_eq!(u64_at(extra, 20), 9 << 30);
        let dd = data_descriptor(&e);
        assert_eq!(dd.len(), 24);
        assert_eq!(u64_at(&dd, 8), MAX32);
        assert_eq!(u64_at(&dd, 16), size);
    }

    #[test]
    fn only_a_far_offset_needs_only_the_offset() {
        let cd = central_header(&entry(3, 5, 1 << 33));
        assert_eq!(u32_at(&cd, 20), 5);
        assert_eq!(u32_at(&cd, 24), 3);
        assert_eq!(u16_at(&cd, 30), 12);
        assert_eq!(u32_at(&cd, 42), u32::MAX);
        assert_eq!(u64_at(&cd, 46 + 7 + 4), 1 << 33);
    }

    #[test]
    fn zip64_end_records_when_counts_or_offsets_pass_32_bits() {
        let plain = end_records(3, 100, 50);
        assert_eq!(plain.len(), 22);
        assert_eq!(u16_at(&plain, 10), 3);
        assert_eq!(u32_at(&plain, 16), 100);
        for (records, start) in [(70_000, 100), (3, 6 << 30)] {
            let b = end_records(records, start, 50);
            assert_eq!(b.len(), 56 + 20 + 22);
            assert_eq!(u32_at(&b, 0), ZIP64_END);
            assert_eq!(u64_at(&b, 32), records);
            assert_eq!(u64_at(&b, 40), 50);
            assert_eq!(u64_at(&b, 48), start);
            assert_eq!(u32_at(&b, 56), ZIP64_LOCATOR);
            assert_eq!(u64_at(&b, 64), start + 50);
            assert_eq!(u16_at(&b, 76 + 10), 0xFFFF);
            assert_eq!(u32_at(&b, 76 + 16), u32::MAX);
        }
    }

    #[test]
    fn times_are_ms_dos_times_from_1980() {
        let t = DateTime::parse_from_rfc3339("2024-03-05T10:20:31Z").unwrap();
        let (time, date) = dos_time(t.with_timezone(&Utc));
        assert_eq!(time, (10 << 11) | (20 << 5) | 15);
        assert_eq!(date, (44 << 9) | (3 << 5) | 5);
        let (_, date) = dos_time(DateTime::from_timestamp(0, 0).unwrap());
        assert_eq!(date >> 9, 0, "clamped to 1980");
        assert_eq!(date, (1 << 5) | 1);
    }
}
