//! An incremental parser of `text/event-stream`, the few lines of the HTML
//! spec the SSE lane needs: fields `event`, `data` (lines joined by `\n`),
//! `id`; comments (`:`) ignored; an event dispatched on a blank line; lines
//! ending in `\n`, `\r\n` or `\r`, split anywhere across chunks.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// `message` unless the stream named it.
    pub event: String,
    pub data: String,
    /// The last `id` the stream set, which a reconnect sends as `Last-Event-ID`.
    pub id: Option<String>,
}

/// Bytes in, events out.
#[derive(Debug, Default)]
pub struct SseParser {
    /// The incomplete last line, as bytes: a chunk may end inside a UTF-8 character.
    line: Vec<u8>,
    /// The last chunk ended in `\r`: a `\n` starting the next one ends no line.
    after_cr: bool,
    event: Option<String>,
    /// Every `data` line so far, each followed by `\n`.
    data: String,
    last_id: Option<String>,
}

impl SseParser {
    /// Takes the next chunk of the body; returns the events it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in chunk {
            let after_cr = std::mem::take(&mut self.after_cr);
            match byte {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    events.extend(self.line_done(&String::from_utf8_lossy(&line)));
                }
                _ => self.line.push(byte),
            }
        }
        events
    }

    fn line_done(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => self.last_id = Some(value.to_owned()),
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        let mut data = std::mem::take(&mut self.data);
        if data.is_empty() {
            return None;
        }
        data.pop();
        Some(SseEvent {
            event: event
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| "message".to_owned()),
            data,
            id: self.last_id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&str]) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        chunks
            .iter()
            .flat_map(|c| parser.feed(c.as_bytes()))
            .collect()
    }

    fn event(event: &str, data: &str, id: Option<&str>) -> SseEvent {
        SseEvent {
            event: event.to_owned(),
            data: data.to_owned(),
            id: id.map(str::to_owned),
        }
    }

    #[test]
    fn an_event_is_dispatched_on_a_blank_line() {
        let events = parse(&["id: 7\nevent: change\ndata: {\"a\":1}\n\n"]);
        assert_eq!(events, [event("change", "{\"a\":1}", Some("7"))]);
        assert!(
            parse(&["event: change\ndata: x\n"]).is_empty(),
            "no blank line yet"
        );
    }

    #[test]
    fn data_lines_are_joined_by_newlines() {
        let events = parse(&["data: one\ndata:two\ndata\n\n"]);
        assert_eq!(events, [event("message", "one\ntwo\n", None)]);
    }

    #[test]
    fn comments_and_unknown_fields_are_ignored() {
        let events = parse(&[": keep-alive\n\nretry: 5\nfoo: bar\ndata: x\n\n"]);
        assert_eq!(events, [event("message", "x", None)]);
    }

    #[test]
    fn crlf_and_cr_end_lines_even_when_split_across_chunks() {
        let events = parse(&["event: a\r", "\ndata: 1\r\n\r", "\n", "data: 2\r\r"]);
        assert_eq!(events, [event("a", "1", None), event("message", "2", None)]);
    }

    #[test]
    fn a_character_split_across_chunks_survives() {
        let bytes = "data: Maïs\n\n".as_bytes();
        let split = bytes.iter().position(|&b| b == 0xC3).expect("ï") + 1;
        let mut parser = SseParser::default();
        assert!(parser.feed(&bytes[..split]).is_empty());
        assert_eq!(
            parser.feed(&bytes[split..]),
            [event("message", "Maïs", None)]
        );
    }

    #[test]
    fn the_id_persists_and_an_event_without_data_is_not_dispatched() {
        let events = parse(&["id: 3\n\n", "event: x\n\n", "data: y\n\n"]);
        assert_eq!(events, [event("message", "y", Some("3"))]);
    }
}
