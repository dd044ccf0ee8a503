use proptest::prelude::*;

use super::*;

pub const SECRET: &[u8] = b"fuzz-secret";
/// The request authenticator the answers among [`valid_packets`] answer.
pub const REQ_AUTH: [u8; 16] = [9; 16];

pub fn valid_packets() -> Vec<Vec<u8>> {
    let vsa = |t: u8, v: u32| {
        let mut b = chilli::VENDOR.to_be_bytes().to_vec();
        b.extend_from_slice(&[t, 6]);
        b.extend_from_slice(&v.to_be_bytes());
        b
    };
    let mut coa = Packet::new(COA_REQUEST, 1);
    coa.add_str(attr::USER_NAME, "alice");
    coa.add(attr::FRAMED_IP_ADDRESS, vec![192, 0, 2, 10]);
    coa.add_u32(attr::SESSION_TIMEOUT, 600);
    coa.add(attr::VENDOR_SPECIFIC, vsa(chilli::MAX_TOTAL_OCTETS, 1000));
    coa.add(attr::MESSAGE_AUTHENTICATOR, vec![0; 16]);
    let mut dis = Packet::new(DISCONNECT_REQUEST, 2);
    dis.add_str(attr::CALLING_STATION_ID, "02-00-00-00-01-0A");
    dis.add_str(attr::NAS_IDENTIFIER, "gw");
    dis.add(attr::PROXY_STATE, b"ps".to_vec());
    let mut accept = Packet::new(ACCESS_ACCEPT, 3);
    accept.add_u32(attr::SESSION_TIMEOUT, 60);
    accept.add(attr::CLASS, b"plan".to_vec());
    let mut ack = Packet::new(ACCOUNTING_RESPONSE, 4);
    vec![
        coa.encode_hashed_request(SECRET),
        dis.encode_hashed_request(SECRET),
        accept.encode_response(&REQ_AUTH, SECRET, true),
        ack.encode_response(&REQ_AUTH, SECRET, false),
    ]
}

/// Everything netauth does with a datagram before it knows it is sound: none of it
/// may panic.
pub fn feed(raw: &[u8]) {
    let _ = Packet::verify_response(raw, &REQ_AUTH, SECRET);
    let _ = Packet::verify_hashed_request(raw, SECRET);
    let _ = Packet::decode(raw);
}

/// How a test datagram's authenticator is made.
#[derive(Clone, Copy, Debug)]
pub enum Signed {
    /// Left as it is.
    No,
    /// A valid Response Authenticator (for [`REQ_AUTH`]), as a server holding the
    /// secret would send.
    Response,
    /// A valid Request Authenticator of a hashed request.
    Request,
}

/// Signs `raw` (over its Length, when that is possible) with [`SECRET`].
pub fn sign(raw: &mut [u8], how: Signed) {
    let len = match raw.get(2..4) {
        Some(l) => usize::from(u16::from_be_bytes([l[0], l[1]])),
        None => return,
    };
    if !(HEADER..=raw.len()).contains(&len) {
        return;
    }
    match how {
        Signed::No => return,
        Signed::Response => raw[4..20].copy_from_slice(&REQ_AUTH),
        Signed::Request => raw[4..20].fill(0),
    }
    let auth = md5(&[&raw[..len], SECRET]);
    raw[4..20].copy_from_slice(&auth);
}

/// A valid packet with a few bytes changed, maybe cut short, maybe with its Length
/// made to agree, maybe re-signed.
pub fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        0usize..4,
        prop::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        any::<Option<u16>>(),
        any::<bool>(),
        prop_oneof![
            Just(Signed::No),
            Just(Signed::Response),
            Just(Signed::Request)
        ],
    )
        .prop_map(|(which, changes, cut, fix_length, signed)| {
            let mut raw = valid_packets().swap_remove(which);
            for (at, b) in changes {
                let at = at % raw.len();
                raw[at] = b;
            }
            if let Some(c) = cut {
                raw.truncate(usize::from(c) % (raw.len() + 1));
            }
            if fix_length && raw.len() >= 4 {
                let n = raw.len() as u16;
                raw[2..4].copy_from_slice(&n.to_be_bytes());
            }
            sign(&mut raw, signed);
            raw
        })
}
