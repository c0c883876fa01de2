//! Just enough HTTP/1.1 for light raw clients: a response head, and the
//! chunked body an endless SSE response comes in. 10,000 reqwest or hyper
//! clients would cost the shared cores more than the server under test.

use anyhow::{Context, bail};
use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The head of a response: status and the headers the bench reads.
pub struct Head {
    pub status: u16,
    pub etag: Option<String>,
    pub revision: Option<u64>,
    pub content_length: usize,
    pub chunked: bool,
}

/// Reads from `tcp` into `buf` until a whole head is there, and takes it off.
pub async fn read_head(tcp: &mut TcpStream, buf: &mut BytesMut) -> anyhow::Result<Head> {
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = parse_head(&buf[..end])?;
            buf.advance(end + 4);
            return Ok(head);
        }
        if tcp.read_buf(buf).await.context("read")? == 0 {
            bail!("connection ended before a response head");
        }
    }
}

fn parse_head(raw: &[u8]) -> anyhow::Result<Head> {
    let text = std::str::from_utf8(raw).context("head is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .context("no status line")?;
    let mut head = Head {
        status,
        etag: None,
        revision: None,
        content_length: 0,
        chunked: false,
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "etag" => head.etag = Some(value.to_owned()),
            "x-revision" => head.revision = value.parse().ok(),
            "content-length" => head.content_length = value.parse().context("content-length")?,
            "transfer-encoding" => head.chunked = value.eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    Ok(head)
}

/// Takes one whole chunk of a chunked body off `buf`: `Some(Ok(data))`, `None`
/// when more bytes are needed; the last (empty) chunk is an error here, as an
/// event stream never ends while the bench runs.
pub fn take_chunk(buf: &mut BytesMut) -> Option<anyhow::Result<Bytes>> {
    let line_end = find(buf, b"\r\n")?;
    let size_text = std::str::from_utf8(&buf[..line_end]).unwrap_or("");
    let size_text = size_text.split(';').next().unwrap_or("").trim();
    let size = match usize::from_str_radix(size_text, 16) {
        Ok(0) => return Some(Err(anyhow::anyhow!("the event stream ended"))),
        Ok(size) => size,
        Err(_) => return Some(Err(anyhow::anyhow!("bad chunk size {size_text:?}"))),
    };
    if buf.len() < line_end + 2 + size + 2 {
        return None;
    }
    buf.advance(line_end + 2);
    let data = buf.split_to(size).freeze();
    buf.advance(2);
    Some(Ok(data))
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_taken_whole_and_only_when_complete() {
        let mut buf = BytesMut::from(&b"5\r\nhello\r\n3;x=y\r\nab"[..]);
        assert_eq!(take_chunk(&mut buf).unwrap().unwrap(), Bytes::from("hello"));
        assert!(take_chunk(&mut buf).is_none(), "half a chunk waits");
        buf.extend_from_slice(b"c\r\n0\r\n\r\n");
        assert_eq!(take_chunk(&mut buf).unwrap().unwrap(), Bytes::from("abc"));
        assert!(
            take_chunk(&mut buf).unwrap().is_err(),
            "the last chunk ends it"
        );
    }

    #[test]
    fn a_head_gives_status_etag_and_revision() {
        let head =
            parse_head(b"HTTP/1.1 200 OK\r\nETag: \"abc\"\r\nX-Revision: 7\r\ncontent-length: 12")
                .unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.etag.as_deref(), Some("\"abc\""));
        assert_eq!(head.revision, Some(7));
        assert_eq!(head.content_length, 12);
        assert!(!head.chunked);
    }
}
