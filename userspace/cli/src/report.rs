//! A report made of titled sections of fields, printed either as aligned
//! "Label:  value" lines (human) or as JSON objects keyed by field name.

use serde_json::Map;
pub use serde_json::Value;

/// One field: its JSON key and value, its label and its text for humans.
pub struct Field {
    pub key: &'static str,
    pub label: &'static str,
    pub value: Value,
    pub text: String,
}

/// A titled group of fields.
pub struct Section {
    pub key: &'static str,
    pub title: &'static str,
    pub fields: Vec<Field>,
}

impl Section {
    pub fn new(key: &'static str, title: &'static str) -> Self {
        Self {
            key,
            title,
            fields: Vec::new(),
        }
    }

    /// Adds a field whose human text is `text` and JSON value `value`.
    pub fn add(
        &mut self,
        key: &'static str,
        label: &'static str,
        value: impl Into<Value>,
        text: impl Into<String>,
    ) -> &mut Self {
        self.fields.push(Field {
            key,
            label,
            value: value.into(),
            text: text.into(),
        });
        self
    }

    /// Adds a number shown as itself.
    pub fn num(&mut self, key: &'static str, label: &'static str, v: u64) -> &mut Self {
        self.add(key, label, v, v.to_string())
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        for f in &self.fields {
            m.insert(f.key.to_string(), f.value.clone());
        }
        Value::Object(m)
    }

    pub fn print(&self, width: usize) {
        if !self.title.is_empty() {
            println!("{}", self.title);
        }
        for f in &self.fields {
            let label = format!("{}:", f.label);
            println!("  {label:<width$} {}", f.text);
        }
    }
}

/// Prints sections as text, with one label column for all of them.
pub fn print_sections(sections: &[Section]) {
    let width = sections
        .iter()
        .flat_map(|s| s.fields.iter().map(|f| f.label.len() + 1))
        .max()
        .unwrap_or(0);
    for (i, s) in sections.iter().enumerate() {
        if i > 0 {
            println!();
        }
        s.print(width);
    }
}

/// The sections as one JSON object keyed by section.
pub fn sections_json(sections: &[Section]) -> Map<String, Value> {
    let mut m = Map::new();
    for s in sections {
        m.insert(s.key.to_string(), s.to_json());
    }
    m
}
