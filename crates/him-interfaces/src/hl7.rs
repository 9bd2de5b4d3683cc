//! HL7 v2 messages and MLLP framing: the wire primitives of the EHR interfaces (issue #15: MDM out, ADT in).
//! Nothing here does I/O or logs; a message is PHI and is never printed (its `Debug` shows only its shape).
//!
//! Parsing is tolerant, as interface engines are in practice: segments may end in `\r`, `\n` or `\r\n`, trailing
//! empty fields may be missing, and the separators are whatever MSH-1 and MSH-2 declare. Values are kept as they
//! arrived (escaped); [`unescape`] turns one into text and [`escape`] does the reverse when building.
//!
//! MLLP (the Minimal Lower Layer Protocol) frames each message as `0x0B <message> 0x1C 0x0D`. [`MllpDecoder`] is
//! a sans-I/O decoder: feed it bytes as they arrive, take complete frames out; bytes outside a frame and frames
//! over the size limit are errors, never silently joined to the next message.

/// Start of an MLLP frame.
pub const MLLP_START: u8 = 0x0b;
/// End of an MLLP frame: file separator, carriage return.
pub const MLLP_END: [u8; 2] = [0x1c, 0x0d];

/// What is wrong with a message or a frame (names the rule, never a value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Hl7Error {
    #[error("message does not start with an MSH segment")]
    NoHeader,
    #[error("MSH-2 encoding characters are missing or malformed")]
    BadEncoding,
    #[error("segment {0} has a malformed id")]
    BadSegmentId(usize),
    #[error("bytes outside an MLLP frame")]
    OutsideFrame,
    #[error("MLLP frame over {0} bytes")]
    FrameTooLarge(usize),
    #[error("message is not UTF-8 or ASCII text")]
    NotText,
    #[error("acknowledgement has no MSA segment")]
    NoMsa,
    #[error("acknowledgement answers another message (MSA-2 is not the sent MSH-10)")]
    WrongControlId,
    #[error("acknowledgement code is not AA, AE, AR, CA, CE or CR")]
    BadAckCode,
}

/// The five separators of a message (MSH-1 and MSH-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding {
    pub field: char,
    pub component: char,
    pub repetition: char,
    pub escape: char,
    pub subcomponent: char,
}

impl Default for Encoding {
    fn default() -> Self {
        Encoding {
            field: '|',
            component: '^',
            repetition: '~',
            escape: '\\',
            subcomponent: '&',
        }
    }
}

/// One segment: its id and its fields as they arrived (escaped).
#[derive(Clone, PartialEq, Eq)]
pub struct Segment {
    pub id: String,
    /// `fields[0]` is field 1 (for MSH: MSH-1, the field separator itself).
    pub fields: Vec<String>,
}

/// A parsed HL7 v2 message.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    pub encoding: Encoding,
    pub segments: Vec<Segment>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.segments.iter().map(|s| s.id.as_str()).collect();
        f.debug_struct("Message")
            .field("segments", &ids)
            .finish_non_exhaustive()
    }
}

impl Message {
    /// Parses a message; segment terminators `\r`, `\n` and `\r\n` are all accepted.
    pub fn parse(text: &str) -> Result<Message, Hl7Error> {
        let text = text.trim_start_matches(['\r', '\n', ' ', '\u{feff}']);
        if !text.starts_with("MSH") {
            return Err(Hl7Error::NoHeader);
        }
        let mut chars = text[3..].chars();
        let field = chars.next().ok_or(Hl7Error::BadEncoding)?;
        let declared: Vec<char> = chars.take_while(|&c| c != field).collect();
        if field.is_alphanumeric() || !(2..=4).contains(&declared.len()) {
            return Err(Hl7Error::BadEncoding);
        }
        let encoding = Encoding {
            field,
            component: declared[0],
            repetition: declared[1],
            escape: declared.get(2).copied().unwrap_or('\\'),
            subcomponent: declared.get(3).copied().unwrap_or('&'),
        };
        let mut segments = Vec::new();
        for (index, line) in text
            .split(['\r', '\n'])
            .filter(|line| !line.trim().is_empty())
            .enumerate()
        {
            let mut parts = line.split(field);
            let id = parts.next().unwrap_or_default().to_string();
            let well_formed = id.len() == 3
                && id
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            if !well_formed {
                return Err(Hl7Error::BadSegmentId(index + 1));
            }
            let mut fields: Vec<String> = parts.map(str::to_string).collect();
            if id == "MSH" {
                fields.insert(0, field.to_string());
            }
            segments.push(Segment { id, fields });
        }
        Ok(Message { encoding, segments })
    }

    /// The first segment with this id.
    pub fn segment(&self, id: &str) -> Option<&Segment> {
        self.segments.iter().find(|s| s.id == id)
    }

    /// Field `number` (1-based, HL7 numbering) of the first segment `id`, escaped; `None` when absent.
    pub fn field(&self, id: &str, number: usize) -> Option<&str> {
        let segment = self.segment(id)?;
        segment
            .fields
            .get(number.checked_sub(1)?)
            .map(String::as_str)
    }

    /// Component `number` (1-based) of a field, escaped.
    pub fn component(&self, id: &str, field: usize, number: usize) -> Option<&str> {
        self.field(id, field)?
            .split(self.encoding.component)
            .nth(number.checked_sub(1)?)
    }

    /// MSH-10, the message control id.
    pub fn control_id(&self) -> Option<&str> {
        self.field("MSH", 10).filter(|id| !id.is_empty())
    }

    /// MSH-9 message code and trigger event (`MDM`, `T02`).
    pub fn message_type(&self) -> Option<(&str, &str)> {
        Some((self.component("MSH", 9, 1)?, self.component("MSH", 9, 2)?))
    }

    /// The message with `\r` after every segment, as sent on the wire.
    pub fn encode(&self) -> String {
        let e = self.encoding;
        let mut out = String::new();
        for segment in &self.segments {
            out.push_str(&segment.id);
            let fields = if segment.id == "MSH" {
                // MSH-1 is the separator itself, written once.
                &segment.fields[1.min(segment.fields.len())..]
            } else {
                &segment.fields[..]
            };
            for field in fields {
                out.push(e.field);
                out.push_str(field);
            }
            out.push('\r');
        }
        out
    }
}

/// Escapes text for a field value (`\F\`, `\S\`, `\R\`, `\E\`, `\T\`; line breaks as `\.br\`).
pub fn escape(text: &str, encoding: &Encoding) -> String {
    let mut out = String::with_capacity(text.len());
    let e = encoding.escape;
    for c in text.chars() {
        let code = match c {
            c if c == encoding.field => Some("F"),
            c if c == encoding.component => Some("S"),
            c if c == encoding.repetition => Some("R"),
            c if c == encoding.escape => Some("E"),
            c if c == encoding.subcomponent => Some("T"),
            '\n' => Some(".br"),
            '\r' => None,
            _ => {
                out.push(c);
                continue;
            }
        };
        if let Some(code) = code {
            out.push(e);
            out.push_str(code);
            out.push(e);
        }
    }
    out
}

/// Turns an escaped value into text; unknown escapes are kept as they are.
pub fn unescape(value: &str, encoding: &Encoding) -> String {
    let e = encoding.escape;
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find(e) {
        out.push_str(&rest[..start]);
        let after = &rest[start + e.len_utf8()..];
        let Some(end) = after.find(e) else {
            out.push_str(&rest[start..]);
            return out;
        };
        let replacement = match &after[..end] {
            "F" => Some(encoding.field.to_string()),
            "S" => Some(encoding.component.to_string()),
            "R" => Some(encoding.repetition.to_string()),
            "E" => Some(e.to_string()),
            "T" => Some(encoding.subcomponent.to_string()),
            ".br" => Some("\n".to_string()),
            _ => None,
        };
        match replacement {
            Some(text) => out.push_str(&text),
            None => out.push_str(&rest[start..start + e.len_utf8() * 2 + end]),
        }
        rest = &after[end + e.len_utf8()..];
    }
    out.push_str(rest);
    out
}

/// An acknowledgement code (MSA-1), original or enhanced mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    /// Accepted: done.
    Accept,
    /// Error: the receiver refused this message (permanent).
    Error,
    /// Reject: the receiver could not take it now (retry).
    Reject,
}

impl AckCode {
    fn code(self) -> &'static str {
        match self {
            AckCode::Accept => "AA",
            AckCode::Error => "AE",
            AckCode::Reject => "AR",
        }
    }
}

/// Checks an acknowledgement against the control id of the message sent: an ACK for any other message is an
/// error, never taken as this one's.
pub fn check_ack(ack: &Message, sent_control_id: &str) -> Result<AckCode, Hl7Error> {
    let msa = ack.segment("MSA").ok_or(Hl7Error::NoMsa)?;
    let answered = msa.fields.get(1).map(String::as_str).unwrap_or_default();
    if answered.is_empty() || answered != sent_control_id {
        return Err(Hl7Error::WrongControlId);
    }
    match msa.fields.first().map(String::as_str) {
        Some("AA" | "CA") => Ok(AckCode::Accept),
        Some("AE" | "CE") => Ok(AckCode::Error),
        Some("AR" | "CR") => Ok(AckCode::Reject),
        _ => Err(Hl7Error::BadAckCode),
    }
}

/// The acknowledgement of `received`: sender and receiver swapped, MSA-2 = its control id, `control_id` and
/// `timestamp` (HL7 `YYYYMMDDHHMMSS`) our own; `error` (no PHI) goes to MSA-3 for AE/AR.
pub fn ack(
    received: &Message,
    code: AckCode,
    control_id: &str,
    timestamp: &str,
    error: Option<&str>,
) -> Message {
    let e = received.encoding;
    let get = |n| received.field("MSH", n).unwrap_or_default().to_string();
    let encoding_chars: String = [e.component, e.repetition, e.escape, e.subcomponent]
        .iter()
        .collect();
    let trigger = received
        .component("MSH", 9, 2)
        .unwrap_or_default()
        .to_string();
    let msh = Segment {
        id: "MSH".to_string(),
        fields: vec![
            e.field.to_string(),
            encoding_chars,
            get(5),
            get(6),
            get(3),
            get(4),
            timestamp.to_string(),
            String::new(),
            format!("ACK{}{trigger}{}ACK", e.component, e.component),
            control_id.to_string(),
            get(11),
            get(12),
        ],
    };
    let mut msa = vec![
        code.code().to_string(),
        received.control_id().unwrap_or_default().to_string(),
    ];
    if let Some(error) = error {
        msa.push(escape(error, &e));
    }
    Message {
        encoding: e,
        segments: vec![
            msh,
            Segment {
                id: "MSA".to_string(),
                fields: msa,
            },
        ],
    }
}

/// What an acknowledgement says about an error: MSA-3 (text message), else ERR-8 (user message), else the
/// ERR-3 code; at most 200 characters.
pub fn ack_detail(ack: &Message) -> String {
    let text = [("MSA", 3), ("ERR", 8), ("ERR", 3), ("ERR", 1)]
        .iter()
        .filter_map(|(segment, field)| ack.field(segment, *field))
        .find(|value| !value.trim().is_empty())
        .map(|value| unescape(value, &ack.encoding))
        .unwrap_or_default();
    text.chars().take(200).collect()
}

/// Appends an OBX of type ED holding `pdf` as base64 (`^application^pdf^Base64^<data>`).
pub fn append_pdf(message: &mut Message, pdf: &[u8]) {
    use base64::Engine as _;
    let next = message
        .segments
        .iter()
        .filter(|segment| segment.id == "OBX")
        .count()
        + 1;
    let data = base64::engine::general_purpose::STANDARD.encode(pdf);
    let c = message.encoding.component;
    message.segments.push(Segment {
        id: "OBX".to_string(),
        fields: vec![
            next.to_string(),
            "ED".to_string(),
            format!("PDF{c}Original document{c}L"),
            String::new(),
            format!("{c}application{c}pdf{c}Base64{c}{data}"),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            "F".to_string(),
        ],
    });
}

/// MLLP framing as a tokio codec: frames in, payloads out (at most `max_frame` bytes each); bytes between
/// frames are skipped.
#[derive(Debug, Clone)]
pub struct MllpCodec {
    max_frame: usize,
}

impl MllpCodec {
    pub fn new(max_frame: usize) -> Self {
        MllpCodec { max_frame }
    }
}

impl tokio_util::codec::Decoder for MllpCodec {
    type Item = Vec<u8>;
    type Error = std::io::Error;

    fn decode(&mut self, buffer: &mut bytes::BytesMut) -> Result<Option<Vec<u8>>, std::io::Error> {
        // Skip anything before a start block.
        match buffer.iter().position(|b| *b == MLLP_START) {
            Some(start) => {
                let _ = buffer.split_to(start);
            }
            None => {
                buffer.clear();
                return Ok(None);
            }
        }
        let end = buffer.windows(2).position(|pair| pair == MLLP_END);
        match end {
            Some(end) => {
                let frame = buffer.split_to(end + 2);
                Ok(Some(frame[1..end].to_vec()))
            }
            None if buffer.len() > self.max_frame + 3 => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "mllp frame over the size limit",
            )),
            None => Ok(None),
        }
    }
}

impl tokio_util::codec::Encoder<&[u8]> for MllpCodec {
    type Error = std::io::Error;

    fn encode(
        &mut self,
        payload: &[u8],
        buffer: &mut bytes::BytesMut,
    ) -> Result<(), std::io::Error> {
        buffer.extend_from_slice(&frame(payload));
        Ok(())
    }
}

/// Frames a message for MLLP.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 3);
    out.push(MLLP_START);
    out.extend_from_slice(message);
    out.extend_from_slice(&MLLP_END);
    out
}

/// A sans-I/O MLLP decoder with a frame size limit.
#[derive(Debug)]
pub struct MllpDecoder {
    buffer: Vec<u8>,
    in_frame: bool,
    max_frame: usize,
}

impl MllpDecoder {
    pub fn new(max_frame: usize) -> Self {
        MllpDecoder {
            buffer: Vec::new(),
            in_frame: false,
            max_frame,
        }
    }

    /// Feeds bytes; returns the frames they completed (payloads without the framing). Whitespace between
    /// frames is ignored; anything else outside a frame, or a frame over the limit, is an error after which
    /// the connection should be closed.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, Hl7Error> {
        let mut frames = Vec::new();
        for &byte in bytes {
            if !self.in_frame {
                match byte {
                    MLLP_START => self.in_frame = true,
                    b'\r' | b'\n' | b' ' | b'\t' => {}
                    _ => return Err(Hl7Error::OutsideFrame),
                }
                continue;
            }
            self.buffer.push(byte);
            if self.buffer.ends_with(&MLLP_END) {
                self.buffer.truncate(self.buffer.len() - MLLP_END.len());
                frames.push(std::mem::take(&mut self.buffer));
                self.in_frame = false;
            } else if self.buffer.len() > self.max_frame + 1 {
                return Err(Hl7Error::FrameTooLarge(self.max_frame));
            }
        }
        Ok(frames)
    }
}

/// The MDM trigger events `him` sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MdmEvent {
    /// T02: original document, with content (on approval).
    Original,
    /// T04: status change, the author signed.
    Signed,
    /// T06: addendum, TXA-13 names the parent.
    Addendum,
    /// T10: replacement (correction) of a document.
    Replacement,
    /// T11: cancel (filed to the wrong patient).
    Cancel,
}

impl MdmEvent {
    pub fn trigger(self) -> &'static str {
        match self {
            MdmEvent::Original => "T02",
            MdmEvent::Signed => "T04",
            MdmEvent::Addendum => "T06",
            MdmEvent::Replacement => "T10",
            MdmEvent::Cancel => "T11",
        }
    }

    /// Events whose message carries the text in OBX segments.
    fn carries_content(self) -> bool {
        !matches!(self, MdmEvent::Signed | MdmEvent::Cancel)
    }
}

/// Who sends and who receives (MSH-3 to MSH-6).
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    pub sending_application: String,
    pub sending_facility: String,
    pub receiving_application: String,
    pub receiving_facility: String,
}

/// A document as an MDM message announces it. Values are plain text; the builder escapes them.
#[derive(Clone, Default)]
pub struct MdmDocument<'a> {
    pub mrn: &'a str,
    /// The MRN's assigning authority (PID-3.4).
    pub authority: &'a str,
    pub family: &'a str,
    pub given: &'a str,
    /// `YYYYMMDD`.
    pub birth_date: &'a str,
    pub sex: &'a str,
    /// Visit number (PV1-19), when known.
    pub encounter: Option<&'a str>,
    /// LOINC code and display name.
    pub document_type: (&'a str, &'a str),
    /// Activity (service) date, `YYYYMMDD`.
    pub service_date: &'a str,
    pub author: Option<&'a str>,
    /// TXA-12: the document id and version, unique per version.
    pub unique_number: &'a str,
    /// TXA-13 of an addendum or replacement.
    pub parent_number: Option<&'a str>,
    /// TXA-17: `DO` documented, `AU` authenticated (signed), `LA` legally authenticated.
    pub completion_status: &'a str,
    /// The text, one OBX per line.
    pub text: &'a str,
}

impl std::fmt::Debug for MdmDocument<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MdmDocument")
            .field("completion_status", &self.completion_status)
            .finish_non_exhaustive()
    }
}

/// MSH-18 (HL7 table 0211) for UTF-8.
pub const CHARSET_UTF8: &str = "UNICODE UTF-8";

/// Builds an MDM message (HL7 v2.5.1) for `document`.
pub fn mdm(
    event: MdmEvent,
    document: &MdmDocument<'_>,
    endpoints: &Endpoints,
    control_id: &str,
    timestamp: &str,
) -> Message {
    let encoding = Encoding::default();
    let esc = |text: &str| escape(text, &encoding);
    let segment = |id: &str, fields: Vec<String>| Segment {
        id: id.to_string(),
        fields,
    };
    let trigger = event.trigger();
    let mut segments = vec![
        segment(
            "MSH",
            vec![
                "|".into(),
                "^~\\&".into(),
                esc(&endpoints.sending_application),
                esc(&endpoints.sending_facility),
                esc(&endpoints.receiving_application),
                esc(&endpoints.receiving_facility),
                timestamp.into(),
                String::new(),
                format!(
                    "MDM^{trigger}^MDM_{}",
                    if event.carries_content() {
                        "T02"
                    } else {
                        "T01"
                    }
                ),
                esc(control_id),
                "P".into(),
                "2.5.1".into(),
                // MSH-13 to MSH-17 empty; MSH-18: names and text are UTF-8 (accents), and an empty MSH-18
                // means ASCII.
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                CHARSET_UTF8.into(),
            ],
        ),
        segment("EVN", vec![trigger.into(), timestamp.into()]),
        segment(
            "PID",
            vec![
                "1".into(),
                String::new(),
                format!("{}^^^{}^MR", esc(document.mrn), esc(document.authority)),
                String::new(),
                format!("{}^{}", esc(document.family), esc(document.given)),
                String::new(),
                esc(document.birth_date),
                esc(document.sex),
            ],
        ),
    ];
    let mut pv1 = vec!["1".to_string(), "U".to_string()];
    if let Some(encounter) = document.encounter {
        pv1.resize(19, String::new());
        pv1[18] = esc(encounter);
    }
    segments.push(segment("PV1", pv1));
    let mut txa = vec![String::new(); 17];
    txa[0] = "1".into();
    txa[1] = format!(
        "{}^{}^LN",
        esc(document.document_type.0),
        esc(document.document_type.1)
    );
    txa[2] = "TX".into();
    txa[3] = esc(document.service_date);
    if let Some(author) = document.author {
        txa[4] = format!("^{}", esc(author));
    }
    txa[11] = esc(document.unique_number);
    if let Some(parent) = document.parent_number {
        txa[12] = esc(parent);
    }
    txa[16] = esc(document.completion_status);
    segments.push(segment("TXA", txa));
    if event.carries_content() {
        for (index, line) in document.text.lines().enumerate() {
            segments.push(segment(
                "OBX",
                vec![
                    (index + 1).to_string(),
                    "TX".into(),
                    format!(
                        "{}^{}^LN",
                        esc(document.document_type.0),
                        esc(document.document_type.1)
                    ),
                    String::new(),
                    esc(line),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    "F".into(),
                ],
            ));
        }
    }
    Message { encoding, segments }
}

/// Why a send did not end in an acknowledgement.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The receiver could not be reached or the connection broke: retry later, same control id.
    #[error("mllp connection failed: {0}")]
    Io(#[from] std::io::Error),
    /// No acknowledgement within the time allowed: retry later, same control id.
    #[error("no acknowledgement within {0:?}")]
    Timeout(std::time::Duration),
    /// The answer is not this message's acknowledgement (another control id, no MSA, not HL7).
    #[error("bad acknowledgement: {0}")]
    Protocol(#[from] Hl7Error),
}

impl SendError {
    /// Whether sending again later can succeed.
    pub fn is_transient(&self) -> bool {
        !matches!(self, SendError::Protocol(Hl7Error::BadAckCode))
    }
}

/// Sends one message over MLLP on a fresh connection and waits for its acknowledgement, all within `timeout`.
/// Only an ACK answering this message's control id counts. Returns its code and [`ack_detail`].
pub async fn send(
    address: &str,
    message: &Message,
    timeout: std::time::Duration,
    max_frame: usize,
) -> Result<(AckCode, String), SendError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let control_id = message.control_id().ok_or(Hl7Error::NoHeader)?.to_string();
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        stream
            .write_all(&frame(message.encode().as_bytes()))
            .await?;
        stream.flush().await?;
        let mut decoder = MllpDecoder::new(max_frame);
        let mut buffer = [0u8; 4096];
        loop {
            let read = stream.read(&mut buffer).await?;
            if read == 0 {
                return Err(SendError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed before an acknowledgement",
                )));
            }
            if let Some(payload) = decoder.push(&buffer[..read])?.into_iter().next() {
                let text = String::from_utf8(payload).map_err(|_| Hl7Error::NotText)?;
                let ack = Message::parse(&text)?;
                let code = check_ack(&ack, &control_id)?;
                return Ok((code, ack_detail(&ack)));
            }
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| SendError::Timeout(timeout))?
}

#[cfg(test)]
mod tests {
    use super::*;

    const MDM: &str =
        "MSH|^~\\&|HIM|GENERAL|EHR|GENERAL|20261201120000||MDM^T02^MDM_T02|c-0001|P|2.5.1\r\
EVN|T02|20261201120000\r\
PID|1||4081121^^^GENERAL^MR||O'KEEFE^KARENA||19570314|F\r\
TXA|1|CN|TX|20261201||||||||doc-7f3a-1||||||AU\r\
OBX|1|TX|||Line one \\F\\ pipe\\.br\\Line two\r";

    #[test]
    fn a_message_parses_with_hl7_field_numbers() {
        let message = Message::parse(MDM).unwrap();
        assert_eq!(message.control_id(), Some("c-0001"));
        assert_eq!(message.message_type(), Some(("MDM", "T02")));
        assert_eq!(message.field("MSH", 1), Some("|"));
        assert_eq!(message.field("MSH", 2), Some("^~\\&"));
        assert_eq!(message.component("PID", 3, 1), Some("4081121"));
        assert_eq!(message.field("TXA", 12), Some("doc-7f3a-1"));
        let text = unescape(message.field("OBX", 5).unwrap(), &message.encoding);
        assert_eq!(text, "Line one | pipe\nLine two");
        assert_eq!(Message::parse(&message.encode()).unwrap(), message);
        assert!(!format!("{message:?}").contains("KEEFE"));
    }

    #[test]
    fn newline_terminators_and_odd_separators_are_tolerated() {
        let message = Message::parse(&MDM.replace('\r', "\r\n")).unwrap();
        assert_eq!(message.segments.len(), 5);
        let odd = "MSH#$~\\&#A#B#C#D#20261201##ADT$A40#x1#P#2.5.1\nMSA#AA#x0\n";
        let message = Message::parse(odd).unwrap();
        assert_eq!(message.message_type(), Some(("ADT", "A40")));
        assert_eq!(Message::parse("PID|1"), Err(Hl7Error::NoHeader));
        assert_eq!(Message::parse("MSH|"), Err(Hl7Error::BadEncoding));
        assert_eq!(
            Message::parse("MSH|^~\\&|A\rpid|1"),
            Err(Hl7Error::BadSegmentId(2))
        );
    }

    /// HL7's own published MDM^T02 sample (newline terminators, trailing empty fields, a space inside a
    /// component) parses.
    #[test]
    fn the_hl7_published_mdm_sample_parses() {
        let text = include_str!("../../../fixtures/hl7/T02-plain-text-with-line-breaks-v2.3.1.txt");
        let message = Message::parse(text).unwrap();
        assert_eq!(message.message_type(), Some(("MDM", "T02")));
        assert_eq!(message.control_id(), Some("42"));
        let ids: Vec<&str> = message.segments.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["MSH", "EVN", "PID", "PV1", "TXA", "OBX"]);
        assert_eq!(message.component("PID", 3, 1), Some("117513"));
        assert_eq!(message.field("TXA", 12), Some("OV17872"));
        assert_eq!(message.field("TXA", 17), Some("AU"));
        let text = message.field("OBX", 5).unwrap();
        assert!(text.split(message.encoding.repetition).count() > 10);
    }

    fn document() -> MdmDocument<'static> {
        MdmDocument {
            mrn: "4081121",
            authority: "GENERAL",
            family: "O'Keefe",
            given: "Karena",
            birth_date: "19570314",
            sex: "F",
            encounter: Some("V778"),
            document_type: ("18842-5", "Discharge summary"),
            service_date: "20261130",
            author: Some("Dana Whitfield"),
            unique_number: "7f3a9c-1",
            parent_number: None,
            completion_status: "AU",
            text: "Discharged home | stable.\nFollow up in 2 weeks.",
        }
    }

    #[test]
    fn an_mdm_t02_carries_the_document_and_reads_back() {
        let endpoints = Endpoints {
            sending_application: "HIM".into(),
            sending_facility: "GENERAL".into(),
            receiving_application: "EHR".into(),
            receiving_facility: "GENERAL".into(),
        };
        let message = mdm(
            MdmEvent::Original,
            &document(),
            &endpoints,
            "m-1",
            "20261201120000",
        );
        let wire = Message::parse(&message.encode()).unwrap();
        assert_eq!(wire.message_type(), Some(("MDM", "T02")));
        assert_eq!(wire.control_id(), Some("m-1"));
        assert_eq!(wire.field("MSH", 2), Some("^~\\&"));
        assert_eq!(wire.component("PID", 3, 4), Some("GENERAL"));
        assert_eq!(wire.field("PV1", 19), Some("V778"));
        assert_eq!(wire.field("TXA", 12), Some("7f3a9c-1"));
        assert_eq!(wire.field("TXA", 17), Some("AU"));
        let lines: Vec<String> = wire
            .segments
            .iter()
            .filter(|s| s.id == "OBX")
            .map(|s| unescape(&s.fields[4], &wire.encoding))
            .collect();
        assert_eq!(
            lines,
            ["Discharged home | stable.", "Follow up in 2 weeks."]
        );
        // A cancel carries no text; an addendum names its parent.
        let cancel = mdm(
            MdmEvent::Cancel,
            &document(),
            &endpoints,
            "m-2",
            "20261201120000",
        );
        assert!(cancel.segment("OBX").is_none());
        let addendum = MdmDocument {
            parent_number: Some("7f3a9c-1"),
            unique_number: "7f3a9c-2",
            ..document()
        };
        let message = mdm(
            MdmEvent::Addendum,
            &addendum,
            &endpoints,
            "m-3",
            "20261201120000",
        );
        assert_eq!(message.field("TXA", 13), Some("7f3a9c-1"));
        assert_eq!(message.message_type(), Some(("MDM", "T06")));
    }

    #[test]
    fn an_mdm_with_accented_names_declares_utf8() {
        // Regression: MSH-18 was empty, which HL7 reads as ASCII, while names went out as UTF-8.
        let endpoints = Endpoints {
            sending_application: "HIM".into(),
            sending_facility: "GENERAL".into(),
            receiving_application: "EHR".into(),
            receiving_facility: "GENERAL".into(),
        };
        let accented = MdmDocument {
            family: "Nuñez-Ødegård",
            given: "Zoë",
            ..document()
        };
        let message = mdm(
            MdmEvent::Original,
            &accented,
            &endpoints,
            "m-9",
            "20261201120000",
        );
        let wire = Message::parse(&message.encode()).unwrap();
        assert_eq!(wire.field("MSH", 18), Some(CHARSET_UTF8));
        assert_eq!(wire.field("MSH", 12), Some("2.5.1"));
        assert_eq!(wire.component("PID", 5, 1), Some("Nuñez-Ødegård"));
        assert_eq!(wire.component("PID", 5, 2), Some("Zoë"));
    }

    #[test]
    fn escaping_round_trips() {
        let encoding = Encoding::default();
        let text = "a|b^c~d\\e&f\nnext";
        assert_eq!(unescape(&escape(text, &encoding), &encoding), text);
        assert_eq!(unescape("\\X0D\\ kept", &encoding), "\\X0D\\ kept");
        assert_eq!(unescape("dangling \\F", &encoding), "dangling \\F");
    }

    #[test]
    fn an_ack_answers_only_its_own_message() {
        let message = Message::parse(MDM).unwrap();
        let ack = ack(&message, AckCode::Accept, "a-1", "20261201120001", None);
        let wire = Message::parse(&ack.encode()).unwrap();
        assert_eq!(wire.field("MSH", 3), Some("EHR"));
        assert_eq!(wire.field("MSH", 5), Some("HIM"));
        assert_eq!(check_ack(&wire, "c-0001"), Ok(AckCode::Accept));
        // Someone else's ACK is never ours.
        assert_eq!(check_ack(&wire, "c-0002"), Err(Hl7Error::WrongControlId));
        let refused = super::ack(
            &message,
            AckCode::Error,
            "a-2",
            "20261201120001",
            Some("bad|txa"),
        );
        let wire = Message::parse(&refused.encode()).unwrap();
        assert_eq!(check_ack(&wire, "c-0001"), Ok(AckCode::Error));
        assert_eq!(
            unescape(wire.field("MSA", 3).unwrap(), &wire.encoding),
            "bad|txa"
        );
    }

    /// A one-connection MLLP peer on loopback that answers the first frame with `answer(message)`, or
    /// never answers when it returns `None`.
    async fn peer(answer: fn(&Message) -> Option<Message>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut decoder = MllpDecoder::new(1 << 20);
            let mut buffer = [0u8; 1024];
            loop {
                let read = stream.read(&mut buffer).await.unwrap();
                if read == 0 {
                    return;
                }
                if let Some(frame_bytes) = decoder.push(&buffer[..read]).unwrap().pop() {
                    let message =
                        Message::parse(std::str::from_utf8(&frame_bytes).unwrap()).unwrap();
                    match answer(&message) {
                        Some(reply) => {
                            let bytes = frame(reply.encode().as_bytes());
                            stream.write_all(&bytes).await.unwrap();
                        }
                        None => tokio::time::sleep(std::time::Duration::from_secs(5)).await,
                    }
                    return;
                }
            }
        });
        address
    }

    #[tokio::test]
    async fn send_takes_only_its_own_acknowledgement() {
        let message = Message::parse(MDM).unwrap();
        let limit = std::time::Duration::from_millis(500);
        let accepted = peer(|m| Some(ack(m, AckCode::Accept, "a-1", "20261201", None))).await;
        assert_eq!(
            send(&accepted, &message, limit, 1 << 20).await.unwrap().0,
            AckCode::Accept
        );
        let refused = peer(|m| Some(ack(m, AckCode::Error, "a-2", "20261201", Some("no")))).await;
        assert_eq!(
            send(&refused, &message, limit, 1 << 20).await.unwrap().0,
            AckCode::Error
        );
        // An ACK of another message (a late answer to an earlier send) is an error, never a delivery.
        let other = peer(|_| {
            let earlier = Message::parse(&MDM.replace("c-0001", "c-0000")).unwrap();
            Some(ack(&earlier, AckCode::Accept, "a-3", "20261201", None))
        })
        .await;
        let error = send(&other, &message, limit, 1 << 20).await.unwrap_err();
        assert!(
            matches!(error, SendError::Protocol(Hl7Error::WrongControlId)),
            "{error}"
        );
        let silent = peer(|_| None).await;
        let error = send(&silent, &message, limit, 1 << 20).await.unwrap_err();
        assert!(matches!(error, SendError::Timeout(_)) && error.is_transient());
    }

    #[test]
    fn mllp_frames_split_across_reads_come_out_whole() {
        let mut wire = frame(b"MSH|one");
        wire.extend(frame(b"MSH|two"));
        let mut decoder = MllpDecoder::new(1024);
        let mut frames = Vec::new();
        for chunk in wire.chunks(3) {
            frames.extend(decoder.push(chunk).unwrap());
        }
        assert_eq!(frames, vec![b"MSH|one".to_vec(), b"MSH|two".to_vec()]);
        assert_eq!(
            MllpDecoder::new(1024).push(b"MSH|no frame"),
            Err(Hl7Error::OutsideFrame)
        );
        assert_eq!(
            MllpDecoder::new(4).push(&frame(b"MSH|too long")),
            Err(Hl7Error::FrameTooLarge(4))
        );
    }
}
