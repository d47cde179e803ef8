//! Server-sent events as Streamable HTTP uses them: split a byte stream
//! into events, keep each event's exact text unless the proxy changes it.

/// One event: its text as received (without the blank line ending it) and
/// its `data`, if it has any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    pub raw: String,
    pub data: Option<String>,
}

impl Event {
    /// The event with `data` replaced, its other fields (`id`, `event`,
    /// `retry`) kept.
    pub(crate) fn with_data(&self, data: &str) -> String {
        let mut out = String::with_capacity(self.raw.len() + data.len());
        for line in self.raw.lines() {
            if line != "data" && !line.starts_with("data:") {
                out.push_str(line);
                out.push('\n');
            }
        }
        for line in data.lines() {
            out.push_str("data: ");
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
        out
    }
}

/// A JSON-RPC message as one event.
pub(crate) fn message_event(data: &str) -> String {
    format!("event: message\ndata: {data}\n\n")
}

/// Splits a byte stream into events as it arrives.
#[derive(Debug, Default)]
pub(crate) struct Parser {
    buf: String,
    pending: Vec<u8>,
}

impl Parser {
    /// Feeds bytes; returns the events they complete.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.pending.extend_from_slice(bytes);
        // keep an incomplete UTF-8 sequence for the next chunk
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(s) => s.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => self.pending.len(),
        };
        let text = String::from_utf8_lossy(&self.pending[..valid]).into_owned();
        self.pending.drain(..valid);
        self.buf.push_str(&text.replace("\r\n", "\n"));
        let mut events = Vec::new();
        while let Some(end) = self.buf.find("\n\n") {
            let raw: String = self.buf[..end].to_owned();
            self.buf.drain(..end + 2);
            if raw.is_empty() {
                continue;
            }
            events.push(parse(raw));
        }
        events
    }

    /// What is left when the stream ends (an event without its blank line).
    pub(crate) fn finish(&mut self) -> Option<Event> {
        let rest = std::mem::take(&mut self.buf);
        let rest = rest.trim_end_matches('\n');
        (!rest.is_empty()).then(|| parse(rest.to_owned()))
    }
}

fn parse(raw: String) -> Event {
    let mut data: Option<String> = None;
    for line in raw.lines() {
        let value = if line == "data" {
            Some("")
        } else {
            line.strip_prefix("data:")
                .map(|v| v.strip_prefix(' ').unwrap_or(v))
        };
        if let Some(v) = value {
            match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(v);
                }
                None => data = Some(v.to_owned()),
            }
        }
    }
    Event { raw, data }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_and_line_endings_are_joined() {
        let mut p = Parser::default();
        assert!(p.feed(b"id: 1\nevent: mess").is_empty());
        let e = p.feed(b"age\ndata: {\"a\":\r\ndata: 1}\r\n\r\n: keepalive\n\n");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].data.as_deref(), Some("{\"a\":\n1}"));
        assert_eq!(e[0].raw, "id: 1\nevent: message\ndata: {\"a\":\ndata: 1}");
        assert_eq!(e[1].data, None);
        assert_eq!(
            e[0].with_data("{\"b\":2}"),
            "id: 1\nevent: message\ndata: {\"b\":2}\n\n"
        );
        // a multi-byte character cut between chunks
        let text = "data: é\n\n".as_bytes();
        assert!(p.feed(&text[..7]).is_empty());
        assert_eq!(p.feed(&text[7..])[0].data.as_deref(), Some("é"));
        assert!(p.finish().is_none());
    }
}
