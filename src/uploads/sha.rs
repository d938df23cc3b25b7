//! SHA-256 whose state can be written down and taken up again (§16): a resumable upload
//! is hashed as its bytes arrive, across requests and restarts, so that the finished file
//! is never read a second time to learn its address. The state after each acknowledged
//! offset is stored with the upload's row.

use sha2::digest::generic_array::GenericArray;

/// The initial hash value of SHA-256 (FIPS 180-4, 5.3.3).
const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// A SHA-256 in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumableSha256 {
    state: [u32; 8],
    /// Bytes of the block not yet complete (fewer than 64).
    pending: Vec<u8>,
    /// Bytes hashed so far.
    len: u64,
}

impl Default for ResumableSha256 {
    fn default() -> Self {
        Self {
            state: IV,
            pending: Vec::with_capacity(64),
            len: 0,
        }
    }
}

impl ResumableSha256 {
    /// How many bytes it has hashed.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it has hashed nothing yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Hashes more bytes.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if !self.pending.is_empty() {
            let take = (64 - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() < 64 {
                return;
            }
            sha2::compress256(&mut self.state, &[*GenericArray::from_slice(&self.pending)]);
            self.pending.clear();
        }
        let mut blocks = data.chunks_exact(64);
        for block in &mut blocks {
            sha2::compress256(
                &mut self.state,
                std::slice::from_ref(GenericArray::from_slice(block)),
            );
        }
        self.pending.extend_from_slice(blocks.remainder());
    }

    /// The digest of everything hashed, as lowercase hex.
    pub fn finish_hex(&self) -> String {
        let mut state = self.state;
        let mut tail = self.pending.clone();
        tail.push(0x80);
        while tail.len() % 64 != 56 {
            tail.push(0);
        }
        tail.extend_from_slice(&(self.len.wrapping_mul(8)).to_be_bytes());
        for block in tail.chunks_exact(64) {
            sha2::compress256(
                &mut state,
                std::slice::from_ref(GenericArray::from_slice(block)),
            );
        }
        state.iter().map(|w| format!("{w:08x}")).collect()
    }

    /// The state as text: `len:state-hex:pending-hex`.
    pub fn save(&self) -> String {
        let words: String = self.state.iter().map(|w| format!("{w:08x}")).collect();
        format!("{}:{words}:{}", self.len, hex::encode(&self.pending))
    }

    /// Takes up a state written by [`ResumableSha256::save`]; `None` if it is not one.
    pub fn load(text: &str) -> Option<Self> {
        let mut parts = text.split(':');
        let len: u64 = parts.next()?.parse().ok()?;
        let words = parts.next()?;
        let pending = hex::decode(parts.next()?).ok()?;
        if parts.next().is_some() || words.len() != 64 || pending.len() as u64 != len % 64 {
            return None;
        }
        let mut state = [0u32; 8];
        for (i, w) in state.iter_mut().enumerate() {
            *w = u32::from_str_radix(words.get(i * 8..i * 8 + 8)?, 16).ok()?;
        }
        Some(Self {
            state,
            pending,
            len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn agrees_with_sha2_across_saves_and_odd_splits() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
        for cuts in [&[0usize][..], &[1, 63, 64, 65], &[7, 100, 129, 4000, 9999]] {
            let mut h = ResumableSha256::default();
            let mut at = 0;
            for &c in cuts.iter().chain(std::iter::once(&data.len())) {
                h.update(&data[at..c.max(at)]);
                at = c.max(at);
                h = ResumableSha256::load(&h.save()).expect("a saved state loads");
            }
            assert_eq!(h.len(), data.len() as u64);
            assert_eq!(h.finish_hex(), hex::encode(Sha256::digest(&data)));
        }
        assert_eq!(
            ResumableSha256::default().finish_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn refuses_states_that_are_not_states() {
        for bad in ["", "1:00:", "x:y:z", "3:00000000:aa", "a:b:c:d"] {
            assert!(ResumableSha256::load(bad).is_none(), "{bad:?}");
        }
        let mut h = ResumableSha256::default();
        h.update(b"abc");
        let saved = h.save();
        assert!(ResumableSha256::load(&saved.replace(":616263", ":6162")).is_none());
    }
}
