//! GGUF metadata values: the thirteen value types of the format.
//!
//! A value is written as its type id (u32) and then its payload: fixed-size
//! little-endian numbers, a bool byte (0 or 1), a string (u64 length + UTF-8
//! bytes), or an array (element type u32, count u64, then the elements, which
//! may themselves be arrays).

/// One metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Type 0: an unsigned byte.
    U8(u8),
    /// Type 1: a signed byte.
    I8(i8),
    /// Type 2: u16.
    U16(u16),
    /// Type 3: i16.
    I16(i16),
    /// Type 4: u32.
    U32(u32),
    /// Type 5: i32.
    I32(i32),
    /// Type 6: f32.
    F32(f32),
    /// Type 7: one byte, 0 or 1.
    Bool(bool),
    /// Type 8: u64 length + UTF-8 bytes.
    String(String),
    /// Type 9: element type, count, then the elements.
    Array(Vec<Value>),
    /// Type 10: u64.
    U64(u64),
    /// Type 11: i64.
    I64(i64),
    /// Type 12: f64.
    F64(f64),
}

/// The type ids of the format, in order: 0 = u8 ... 12 = f64.
pub(crate) const TYPE_NAMES: [&str; 13] = [
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
];

impl Value {
    /// The format's name of this value's type: `u32`, `string`, `array`.
    pub fn type_name(&self) -> &'static str {
        TYPE_NAMES[self.type_id() as usize]
    }

    /// The type id written in the file.
    pub fn type_id(&self) -> u32 {
        match self {
            Value::U8(_) => 0,
            Value::I8(_) => 1,
            Value::U16(_) => 2,
            Value::I16(_) => 3,
            Value::U32(_) => 4,
            Value::I32(_) => 5,
            Value::F32(_) => 6,
            Value::Bool(_) => 7,
            Value::String(_) => 8,
            Value::Array(_) => 9,
            Value::U64(_) => 10,
            Value::I64(_) => 11,
            Value::F64(_) => 12,
        }
    }

    /// The value as an unsigned integer, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a signed integer, if it is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::U64(v) => i64::try_from(v).ok(),
            Value::I64(v) => Some(v),
            _ => self.as_u64().map(|v| v as i64).or(match *self {
                Value::I8(v) => Some(v as i64),
                Value::I16(v) => Some(v as i64),
                Value::I32(v) => Some(v as i64),
                _ => None,
            }),
        }
    }

    /// The value as a float, if it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => self.as_i64().map(|v| v as f64),
        }
    }

    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The bool, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The elements, if it is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// A short description for listings: the value, or an array's element
    /// type and length, long strings cut.
    pub fn summary(&self) -> String {
        match self {
            Value::String(s) => {
                let one_line = s.replace('\n', "\\n");
                if one_line.chars().count() > 60 {
                    let cut: String = one_line.chars().take(57).collect();
                    format!("\"{cut}...\" ({} bytes)", s.len())
                } else {
                    format!("\"{one_line}\"")
                }
            }
            Value::Array(a) => {
                let elem = a.first().map(|v| v.type_name()).unwrap_or("empty");
                if a.len() <= 4 && a.iter().all(|v| !matches!(v, Value::Array(_))) {
                    let items: Vec<String> = a.iter().map(|v| v.summary()).collect();
                    format!("[{}]", items.join(", "))
                } else {
                    format!("[{} x {elem}]", a.len())
                }
            }
            Value::F32(v) => format!("{v}"),
            Value::F64(v) => format!("{v}"),
            Value::Bool(v) => format!("{v}"),
            other => format!("{}", other.as_i64().unwrap_or_default()),
        }
    }
}
