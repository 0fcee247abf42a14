//! gzip in memory, with one compressor per thread and level, reset for each stream. A
//! compressor holds about 300 KB of tables that are allocated and zeroed when it is made: made
//! for every Logs Ingestion request or spill message, that was most of what one cost (about
//! 450k instructions, page faults besides). Reset, it only clears its hash table.

use std::cell::RefCell;

use flate2::{Compress, Compression, FlushCompress, Status};

/// `data` as one whole gzip stream, compressed at `level`.
pub fn compress(data: &[u8], level: Compression) -> Vec<u8> {
    thread_local! {
        /// This thread's compressors, one per level used (two: requests and spill messages).
        static COMPRESSORS: RefCell<Vec<(u32, Compress)>> = const { RefCell::new(Vec::new()) };
    }
    COMPRESSORS.with_borrow_mut(|compressors| {
        let index = match compressors.iter().position(|(l, _)| *l == level.level()) {
            Some(index) => index,
            None => {
                compressors.push((level.level(), Compress::new_gzip(level, 15)));
                compressors.len() - 1
            }
        };
        let compressor = &mut compressors[index].1;
        compressor.reset();
        let mut out = Vec::with_capacity(data.len() / 4 + 64);
        loop {
            let consumed = usize::try_from(compressor.total_in()).expect("the input is in memory");
            let status = compressor
                .compress_vec(&data[consumed..], &mut out, FlushCompress::Finish)
                .expect("compressing into memory cannot fail");
            if status == Status::StreamEnd {
                return out;
            }
            // The output is full: room for the rest, which compresses at least this well.
            out.reserve(out.len().max(64));
        }
    })
}

/// `data` as one whole gzip stream of stored (uncompressed) blocks: a valid gzip body for what
/// compressing would save too little on. It costs a copy and a CRC, where compressing costs
/// clearing a 128 KB hash table and then several instructions a byte.
pub fn store(data: &[u8]) -> Vec<u8> {
    /// The most bytes a stored deflate block holds.
    const BLOCK: usize = u16::MAX as usize;
    let blocks = data.len().div_ceil(BLOCK).max(1);
    let mut out = Vec::with_capacity(data.len() + blocks * 5 + 18);
    // ID1, ID2, deflate, no flags, no time, no extra flags, unknown OS.
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    let mut chunks = data.chunks(BLOCK).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let len = u16::try_from(chunk.len()).expect("a block is at most 65,535 bytes");
        out.push(u8::from(last));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    let mut crc = flate2::Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    // ISIZE is the length modulo 2^32.
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// One compressor per level serves every stream of its thread: each is a whole gzip stream
    /// of its own, whatever came before, large or small, compressible or not.
    #[test]
    fn each_stream_is_whole_with_the_compressors_reused() {
        let mut noise = Vec::new();
        let mut x: u32 = 1;
        for _ in 0..300_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            noise.push((x >> 16) as u8);
        }
        let inputs: Vec<Vec<u8>> = vec![
            b"[{}]".to_vec(),
            br#"[{"a":"b"}]"#.repeat(50_000),
            noise,
            Vec::new(),
            b"[1]".to_vec(),
        ];
        for level in [
            Compression::fast(),
            Compression::default(),
            Compression::fast(),
        ] {
            for input in &inputs {
                let compressed = compress(input, level);
                assert_eq!(inflated(&compressed), *input);
            }
        }
    }

    /// A stored stream is a whole gzip stream too, of one block or many, and is the data plus
    /// a few bytes.
    #[test]
    fn a_stored_stream_is_whole_gzip() {
        for len in [0usize, 1, 100, 65_535, 65_536, 200_000] {
            let input: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let stored = store(&input);
            assert_eq!(inflated(&stored), input, "{len}");
            assert!(stored.len() <= len + 5 * len.div_ceil(65_535).max(1) + 18);
        }
    }

    /// The data a gzip stream holds, checking that it is one whole stream (CRC and size
    /// included) with nothing after it.
    fn inflated(stream: &[u8]) -> Vec<u8> {
        assert_eq!(&stream[..2], &[0x1f, 0x8b]);
        let mut decoder = flate2::read::GzDecoder::new(stream);
        let mut back = Vec::new();
        decoder.read_to_end(&mut back).unwrap();
        assert_eq!(decoder.into_inner().len(), 0);
        back
    }
}
