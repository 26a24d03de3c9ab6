//! CSV as cairn writes it for people (Lake results, event history downloads): RFC 4180 (a
//! field with a comma, quote or line break is quoted), and optionally guarded against formula
//! injection: a field a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or carriage
//! return first) starts with `'`.

use std::borrow::Cow;

/// One field.
pub fn field(text: &str, guard_formulas: bool) -> Cow<'_, str> {
    let text: Cow<'_, str> = if guard_formulas && text.starts_with(['=', '+', '-', '@', '\t', '\r'])
    {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    };
    if text.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", text.replace('"', "\"\"")))
    } else {
        text
    }
}

/// One line (`\n`-terminated) of `values`.
pub fn line<'a>(values: impl IntoIterator<Item = &'a str>, guard_formulas: bool) -> String {
    let fields: Vec<Cow<'_, str>> = values
        .into_iter()
        .map(|v| field(v, guard_formulas))
        .collect();
    let mut out = fields.join(",");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_guarded() {
        assert_eq!(field("plain", true), "plain");
        assert_eq!(field("a,b", true), "\"a,b\"");
        assert_eq!(field("say \"hi\"", true), "\"say \"\"hi\"\"\"");
        assert_eq!(
            field("=HYPERLINK(\"x\")", true),
            "\"'=HYPERLINK(\"\"x\"\")\""
        );
        assert_eq!(field("=1+1", false), "=1+1");
        assert_eq!(field("-5", true), "'-5");
        assert_eq!(line(["a", "", "@b"], true), "a,,'@b\n");
    }
}
