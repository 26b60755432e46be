//! Property tests: no header a sender can write panics the signature parsers, and what they accept
//! stays within the caps.
