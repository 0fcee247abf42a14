//! Fixed-width numbers written digit by digit: the times written for every webhook (rows, log
//! lines, `x-ms-date`), where chrono's and `format!`'s machinery cost more than the digits.

/// Appends the last `width` (at most 10) decimal digits of `value`, zero-padded, then `after`.
pub fn push(out: &mut impl Ascii, mut value: u32, width: u32, after: &str) {
    // Found from the last: dividing by a constant ten is a multiplication, where dividing by a
    // power of ten worked out for each place was a division per digit.
    let mut digits = [b'0'; 10];
    let digits = &mut digits[..width as usize];
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
    for digit in digits {
        out.push_byte(*digit);
    }
    out.push_text(after);
}

/// Where digits go: a `String` (log lines, headers) or the bytes of a row's JSON.
pub trait Ascii {
    /// Appends an ASCII byte.
    fn push_byte(&mut self, byte: u8);
    fn push_text(&mut self, text: &str);
}

impl Ascii for String {
    fn push_byte(&mut self, byte: u8) {
        debug_assert!(byte.is_ascii());
        self.push(char::from(byte));
    }

    fn push_text(&mut self, text: &str) {
        self.push_str(text);
    }
}

impl Ascii for Vec<u8> {
    fn push_byte(&mut self, byte: u8) {
        self.push(byte);
    }

    fn push_text(&mut self, text: &str) {
        self.extend_from_slice(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_zero_padded_to_the_width() {
        let mut out = String::new();
        push(&mut out, 7, 2, ":");
        push(&mut out, 2026, 4, "");
        push(&mut out, 123, 6, "Z");
        push(&mut out, 0, 0, "!");
        assert_eq!(out, "07:2026000123Z!");
        let mut bytes = Vec::new();
        push(&mut bytes, 42, 3, "Z");
        assert_eq!(bytes, b"042Z");
    }
}
