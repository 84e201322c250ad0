//! Splitting text by UTF-16 code units, the length JavaScript gives a string: socket.io 0.9
//! and Engine.IO 3 both frame packets by it.

/// Why text cannot be split after a number of UTF-16 units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SplitError {
    /// The text holds fewer units.
    ExceedsText,
    /// The split would fall inside a surrogate pair (a character outside the BMP).
    SplitsSurrogatePair,
}

/// Splits `text` after `units` UTF-16 code units.
pub(crate) fn split_at_units(text: &str, units: usize) -> Result<(&str, &str), SplitError> {
    // A UTF-16 unit never takes less than one UTF-8 byte, so this bounds the walk below.
    if units > text.len() {
        return Err(SplitError::ExceedsText);
    }
    let mut count = 0;
    for (index, c) in text.char_indices() {
        if count == units {
            return Ok(text.split_at(index));
        }
        count += c.len_utf16();
        if count > units {
            return Err(SplitError::SplitsSurrogatePair);
        }
    }
    if count == units {
        Ok((text, ""))
    } else {
        Err(SplitError::ExceedsText)
    }
}
