//! Fixed-width numbers written digit by digit: the times written for every webhook (rows, log
//! lines, `x-ms-date`), where chrono's and `format!`'s machinery cost more than the digits.

/// Appends the last `width` decimal digits of `value`, zero-padded, then `after`.
pub fn push(out: &mut String, value: u32, width: u32, after: &str) {
    for place in (0..width).rev() {
        out.push(char::from(b'0' + (value / 10u32.pow(place) % 10) as u8));
    }
    out.push_str(after);
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
    }
}
