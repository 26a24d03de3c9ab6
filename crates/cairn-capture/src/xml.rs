//! A small XML tree (element names without namespace prefixes, text, children), enough to read
//! AWS's query, EC2 and S3 answers and S3's request bodies.

use quick_xml::Reader;
use quick_xml::events::Event;

/// An element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    /// Attributes other than namespace declarations.
    pub attributes: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The children named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The first element named `name` here or below, depth first.
    pub fn find(&self, name: &str) -> Option<&Element> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }
}

/// Parses a document into its root element; `None` if it is not well-formed XML.
pub fn parse(bytes: &[u8]) -> Option<Element> {
    let mut reader = Reader::from_reader(bytes);
    // Text is kept as sent (a key may end in a space); whitespace between elements lands in
    // the parents' text, which nothing reads.
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let mut buf = Vec::new();
    loop {
        let event = reader.read_event_into(&mut buf).ok()?;
        match event {
            Event::Start(start) => stack.push(element(&start)?),
            Event::Empty(start) => {
                let done = element(&start)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Some(done),
                }
            }
            Event::Text(text) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&text.xml10_content().ok()?);
                }
            }
            Event::CData(data) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(std::str::from_utf8(&data).ok()?);
                }
            }
            Event::GeneralRef(reference) => {
                if let Some(top) = stack.last_mut() {
                    let name = std::str::from_utf8(&reference).ok()?;
                    top.text.push_str(resolve_entity(name)?.as_str());
                }
            }
            Event::End(_) => {
                let done = stack.pop()?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Some(done),
                }
            }
            Event::Eof => return None,
            _ => {}
        }
        buf.clear();
    }
}

fn element(start: &quick_xml::events::BytesStart<'_>) -> Option<Element> {
    let name = std::str::from_utf8(start.local_name().as_ref())
        .ok()?
        .to_owned();
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.ok()?;
        let key = std::str::from_utf8(attribute.key.as_ref()).ok()?.to_owned();
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .ok()?
            .into_owned();
        attributes.push((key, value));
    }
    Some(Element {
        name,
        attributes,
        ..Element::default()
    })
}

/// The text of `&name;`: the five predefined entities and character references.
fn resolve_entity(name: &str) -> Option<String> {
    let text = match name {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        "quot" => "\"",
        _ => {
            let code = match name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => name.strip_prefix('#')?.parse().ok()?,
            };
            return char::from_u32(code).map(String::from);
        }
    };
    Some(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_elements_text_entities_and_empty_elements() {
        let root = parse(
            br#"<?xml version="1.0"?><R xmlns="http://ec2"><a>x &amp; y</a><b/><c><item><d>1</d></item></c></R>"#,
        )
        .unwrap();
        assert_eq!(root.name, "R");
        assert_eq!(root.child("a").unwrap().text, "x & y");
        assert!(root.child("b").unwrap().children.is_empty());
        assert_eq!(root.find("d").unwrap().text, "1");
        assert!(parse(b"<a><b></a>").is_none());
    }
}
