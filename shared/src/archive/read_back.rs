//! A strict reader of the archives this module writes, for its tests: the central directory
//! (ZIP64 records and extra fields included), each local header, the data with its CRC and
//! sizes, and each data descriptor.

use flate2::{Decompress, FlushDecompress, Status};

/// Raw inflate of one whole deflate stream (nothing may follow it).
pub(super) fn inflate(packed: &[u8]) -> Vec<u8> {
    let mut d = Decompress::new(false);
    let mut out = Vec::with_capacity(packed.len() * 4 + 1024);
    loop {
        let read = d.total_in() as usize;
        let status = d
            .decompress_vec(&packed[read..], &mut out, FlushDecompress::Finish)
            .unwrap();
        if status == Status::StreamEnd {
            assert_eq!(d.total_in() as usize, packed.len(), "bytes after the end");
            return out;
        }
        out.reserve(out.capacity().max(1024));
    }
}

pub(super) struct ReadEntry {
    pub name: String,
    pub method: u16,
    pub data: Vec<u8>,
}

fn u16_at(b: &[u8], at: usize) -> u64 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap()).into()
}
fn u32_at(b: &[u8], at: usize) -> u64 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()).into()
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Where the central directory is and how many entries it has.
fn directory(zip: &[u8]) -> (usize, u64) {
    let end = zip.len() - 22;
    assert_eq!(u32_at(zip, end), 0x0605_4b50, "end record last");
    let (mut count, mut start) = (u16_at(zip, end + 10), u32_at(zip, end + 16));
    if count == 0xFFFF || start == 0xFFFF_FFFF {
        let locator = end - 20;
        assert_eq!(u32_at(zip, locator), 0x0706_4b50, "ZIP64 locator");
        let z = u64_at(zip, locator + 8) as usize;
        assert_eq!(u32_at(zip, z), 0x0606_4b50, "ZIP64 end record");
        (count, start) = (u64_at(zip, z + 32), u64_at(zip, z + 48));
    }
    (start as usize, count)
}

pub(super) fn read_back(zip: &[u8]) -> Vec<ReadEntry> {
    let (mut at, count) = directory(zip);
    let mut entries = Vec::new();
    for _ in 0..count {
        assert_eq!(u32_at(zip, at), 0x0201_4b50, "central header");
        let (flags, method, crc) = (
            u16_at(zip, at + 8),
            u16_at(zip, at + 10),
            u32_at(zip, at + 16),
        );
        let (mut compressed, mut size) = (u32_at(zip, at + 20), u32_at(zip, at + 24));
        let (name_len, extra_len) = (u16_at(zip, at + 28) as usize, u16_at(zip, at + 30) as usize);
        let mut offset = u32_at(zip, at + 42);
        let name = String::from_utf8(zip[at + 46..at + 46 + name_len].to_vec()).unwrap();
        let extra = &zip[at + 46 + name_len..at + 46 + name_len + extra_len];
        if !extra.is_empty() {
            assert_eq!(u16_at(extra, 0), 1, "ZIP64 extra");
            let mut field = 4;
            for value in [&mut size, &mut compressed, &mut offset] {
                if *value == 0xFFFF_FFFF {
                    *value = u64_at(extra, field);
                    field += 8;
                }
            }
            assert_eq!(field, extra.len(), "extra length");
        }
        let local = offset as usize;
        assert_eq!(u32_at(zip, local), 0x0403_4b50, "local header of {name}");
        assert_eq!(u16_at(zip, local + 6), flags);
        let data_at =
            local + 30 + u16_at(zip, local + 26) as usize + u16_at(zip, local + 28) as usize;
        let raw = &zip[data_at..data_at + compressed as usize];
        let data = match method {
            0 => raw.to_vec(),
            8 => inflate(raw),
            other => panic!("method {other}"),
        };
        assert_eq!(data.len() as u64, size, "size of {name}");
        assert_eq!(crc32fast::hash(&data) as u64, crc, "CRC of {name}");
        if flags & 8 != 0 {
            let d = data_at + compressed as usize;
            assert_eq!(u32_at(zip, d), 0x0807_4b50, "descriptor of {name}");
            assert_eq!(u32_at(zip, d + 4), crc);
            let wide = size >= 0xFFFF_FFFF || compressed >= 0xFFFF_FFFF;
            let sizes = if wide {
                (u64_at(zip, d + 8), u64_at(zip, d + 16))
            } else {
                (u32_at(zip, d + 8), u32_at(zip, d + 12))
            };
            assert_eq!(sizes, (compressed, size), "descriptor sizes of {name}");
        }
        entries.push(ReadEntry {
            name,
            method: method as u16,
            data,
        });
        at += 46 + name_len + extra_len;
    }
    entries
}
