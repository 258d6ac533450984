//! Every problem fsck.livedfs can report, in one table (e2fsck's
//! `problem.c`): a code, the message (with `{placeholders}` filled from a
//! [`PCtx`]), the question asked, and whether preen (`-p`) may fix it
//! without asking.
//!
//! Codes are `0xPPNNNN`: `PP` the pass (0 for the superblock, descriptors
//! and the journal), `NNNN` the problem within it. A problem is reported
//! through [`crate::ctx::Fsck::fix`], the only place that decides, from the
//! mode (`-n`, `-y`, `-p`, interactive), whether it is repaired; so messages
//! and exit codes stay consistent.

/// What a problem asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    Fix,
    Clear,
    Free,
    Salvage,
    Recompute,
    Replay,
    Connect,
    Clone,
    Allocate,
    Truncate,
    Relocate,
    /// Nothing to ask: only a note (no repair, no effect on the exit code).
    Note,
}

impl Question {
    pub fn word(self) -> &'static str {
        match self {
            Question::Fix => "Fix",
            Question::Clear => "Clear",
            Question::Free => "Free",
            Question::Salvage => "Salvage",
            Question::Recompute => "Recompute",
            Question::Replay => "Replay",
            Question::Connect => "Connect to /lost+found",
            Question::Clone => "Clone",
            Question::Allocate => "Allocate",
            Question::Truncate => "Truncate",
            Question::Relocate => "Relocate",
            Question::Note => "",
        }
    }
    /// What preen prints after a fix it made.
    pub fn preen_done(self) -> &'static str {
        match self {
            Question::Clear => "CLEARED.",
            Question::Free => "FREED.",
            Question::Salvage => "SALVAGED.",
            Question::Connect => "CONNECTED.",
            Question::Clone => "CLONED.",
            Question::Allocate => "ALLOCATED.",
            Question::Truncate => "TRUNCATED.",
            Question::Replay => "REPLAYED.",
            Question::Relocate => "RELOCATED.",
            _ => "FIXED.",
        }
    }
}

/// One entry of the problem table.
#[derive(Debug, Clone, Copy)]
pub struct ProblemDef {
    pub code: u32,
    /// Short name, as used in tests and documentation.
    pub name: &'static str,
    /// The message; `{ino}`, `{blk}`, `{grp}`, `{n}`, `{m}`, `{dir}`,
    /// `{name}`, `{s}` are replaced from the [`PCtx`].
    pub msg: &'static str,
    pub question: Question,
    /// Preen may fix it without asking.
    pub preen_ok: bool,
    /// Fixed without a message (lazy counters, as e2fsck's).
    pub silent: bool,
}

macro_rules! problems {
    ($( $id:ident = $code:expr, $q:ident, $preen:expr, $silent:expr, $msg:expr; )*) => {
        /// Problem identifiers.
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum P { $( $id, )* }

        /// The problem table.
        pub const TABLE: &[ProblemDef] = &[
            $( ProblemDef { code: $code, name: stringify!($id), msg: $msg,
                            question: Question::$q, preen_ok: $preen, silent: $silent }, )*
        ];

        impl P {
            /// Its entry in the table.
            pub fn def(self) -> &'static ProblemDef {
                match self { $( P::$id => &ProblemDef { code: $code, name: stringify!($id), msg: $msg,
                            question: Question::$q, preen_ok: $preen, silent: $silent }, )* }
            }
        }
    };
}

problems! {
    // Pass 0: superblock, descriptors, journal.
    SB_PRIMARY_BAD = 0x000001, Fix, false, false,
        "The primary superblock is corrupt ({s}); using the superblock at block {blk}";
    SB_CSUM = 0x000002, Fix, true, false,
        "Superblock checksum does not match superblock";
    SB_BACKUP_BAD = 0x000003, Fix, true, false,
        "Backup superblock in group {grp} (block {blk}) differs from the primary ({s})";
    SB_BACKUP_GDT_BAD = 0x000004, Fix, true, false,
        "Backup descriptor table in group {grp} is corrupt (descriptor {n}: {s})";
    SB_ORPHAN_HEAD = 0x000005, Clear, false, false,
        "Superblock orphan list head {ino} is invalid ({s})";
    SB_FIELD = 0x000006, Fix, false, false,
        "Superblock field {s} is invalid";
    SB_FREE_COUNTS = 0x000007, Fix, true, true,
        "Superblock free counts are wrong (blocks {n}, inodes {m})";
    SB_PREALLOC = 0x000008, Fix, true, false,
        "Superblock preallocated blocks {n} should be {m} (the files' sum)";
    SB_SAVED_FILTER = 0x000009, Clear, true, false,
        "Superblock points to a saved fingerprint filter at an invalid place ({s})";
    SB_PREALLOC_LAZY = 0x00000A, Fix, true, true,
        "Superblock preallocated blocks {n} should be {m} (the files' sum, after an unclean shutdown)";
    GD_BAD = 0x000010, Fix, false, false,
        "Group descriptor {grp} is corrupt ({s}); rebuilding it";
    GD_CSUM = 0x000011, Fix, true, false,
        "Group descriptor {grp} checksum does not match descriptor";
    JOURNAL_SB_BAD = 0x000020, Clear, false, false,
        "The journal superblock is invalid ({s}); make a new, empty journal";
    JOURNAL_RECOVER = 0x000021, Note, false, false,
        "{s}: recovering journal";
    JOURNAL_NEEDS_RECOVERY_RO = 0x000022, Note, false, false,
        "Warning: the journal needs recovery; skipping it because of -n: the check runs on the unreplayed state";
    JOURNAL_HAS_DATA = 0x000023, Replay, true, false,
        "The superblock has no needs_recovery flag but the journal has data";
    JOURNAL_RECOVER_FLAG = 0x000024, Clear, true, true,
        "needs_recovery flag is set but the journal is empty";
    JOURNAL_REPLAY_ERRORS = 0x000025, Fix, false, false,
        "Journal replay: {s}";
    JOURNAL_BAD_TARGET = 0x000026, Note, false, false,
        "Journal replay skipped block {blk}, which is outside the volume or inside the journal";
    JOURNAL_FEATURES = 0x000027, Clear, false, false,
        "The journal has unsupported features ({s}); make a new, empty journal";
    JOURNAL_ERRNO = 0x000028, Note, false, false,
        "{s}: the kernel recorded an error in the journal (errno {name})";
    NOJOURNAL_UNCLEAN = 0x000029, Note, false, false,
        "{s}: the volume went down while mounted without a journal: verifying the fingerprint of every data block in use";
    ORPHAN_RELEASE = 0x000030, Clear, true, false,
        "Releasing orphan inode {ino} (unlinked while open)";
    ORPHAN_TRUNCATE = 0x000031, Truncate, true, false,
        "Finishing the truncation of orphan inode {ino} to {n} bytes";
    ORPHAN_BAD = 0x000032, Clear, true, false,
        "Orphan list is broken at inode {ino} ({s}); the rest of the list is dropped";
    ORPHAN_CLEARED = 0x000033, Note, false, false,
        "{s}: Clearing orphaned inode {ino} (mode {name})";
    ORPHAN_TRUNCATED = 0x000034, Note, false, false,
        "{s}: Truncating orphaned inode {ino} to {n} bytes (mode {name})";

    // Pass 1: inodes and block maps.
    INODE_CSUM = 0x010001, Fix, false, false,
        "Inode {ino} passes checks, but its checksum does not match";
    INODE_BAD = 0x010002, Clear, false, false,
        "Inode {ino} is corrupt ({s})";
    INODE_DELETED_IN_USE = 0x010003, Clear, true, false,
        "Inode {ino} is marked in use in the inode bitmap but is deleted ({s})";
    INODE_DTIME = 0x010004, Fix, true, false,
        "Inode {ino} is in use, but has dtime set";
    INODE_UNINIT_USED = 0x010005, Fix, false, false,
        "Inode {ino} is in use but lies in the never-initialised part of group {grp}";
    INODE_BAD_FIELD = 0x010006, Fix, true, false,
        "Inode {ino} has an invalid {s} ({n})";
    INODE_RESERVED = 0x010007, Clear, false, false,
        "Reserved inode {ino} is in use ({s})";
    PTR_RANGE = 0x010010, Clear, false, false,
        "Inode {ino} block #{n} points to block {blk}, outside the data area";
    PTR_JOURNAL = 0x010011, Clear, false, false,
        "Inode {ino} block #{n} points to block {blk}, inside the journal";
    PTR_DUP = 0x010012, Clone, false, false,
        "Inode {ino} block #{n} ({s}) is block {blk}, also claimed by {name}";
    PTR_DUP_CLEAR = 0x010013, Clear, false, false,
        "Inode {ino} block #{n} ({s}) is block {blk}, also claimed by {name}";
    PTR_UNINIT_GROUP = 0x010014, Fix, false, false,
        "Inode {ino} block #{n} is block {blk} in group {grp}, whose fingerprint store was never written";
    PTR_UNWRITTEN_BAD = 0x010015, Clear, true, false,
        "Inode {ino} block #{n} is marked unwritten {s}, where only a regular file's data pointer may be";
    PTR_UNWRITTEN_NO_FEATURE = 0x010016, Clear, true, false,
        "Inode {ino} block #{n} is marked unwritten, but the volume has no unwritten feature";
    INODE_BLOCKS = 0x010020, Fix, true, false,
        "Inode {ino}, i_blocks is {n}, should be {m}";
    INODE_SIZE = 0x010021, Fix, true, false,
        "Inode {ino}, i_size is {n}, should be {m}";
    SPECIAL_BLOCKS = 0x010022, Clear, true, false,
        "Special (device/FIFO/socket) inode {ino} has non-zero block words";
    SYMLINK_BAD = 0x010023, Clear, false, false,
        "Symlink inode {ino} is invalid ({s})";
    DIR_HOLE = 0x010024, Allocate, false, false,
        "Directory inode {ino} has a hole at block #{n}";
    XATTR_NO_FEATURE = 0x010030, Clear, false, false,
        "Inode {ino} has an extended attribute block ({blk}), but the volume has no xattr feature";
    XATTR_BLOCK_RANGE = 0x010031, Clear, false, false,
        "Inode {ino} extended attribute block {blk} is {s}";
    XATTR_BLOCK_DUP = 0x010032, Clear, false, false,
        "Inode {ino} extended attribute block {blk} is also claimed as {s}";
    XATTR_BLOCK_BAD = 0x010033, Clear, false, false,
        "Inode {ino} has a bad extended attribute block {blk} ({s})";
    XATTR_CSUM = 0x010034, Fix, false, false,
        "Extended attribute block {blk} (inode {ino}) passes checks, but its checksum does not match";
    XATTR_HASH = 0x010035, Fix, true, false,
        "Extended attribute block {blk} (inode {ino}) has hash {n}, should be {m}";
    XATTR_REFCOUNT = 0x010036, Fix, true, false,
        "Extended attribute block {blk} has reference count {n}, should be {m}";

    // Pass 2: directories.
    DIR_CSUM = 0x020001, Fix, false, false,
        "Directory inode {ino} block #{n} (block {blk}): entries are valid but the checksum does not match";
    DIR_CORRUPT = 0x020002, Salvage, false, false,
        "Directory inode {ino} block #{n} (block {blk}) is corrupt ({s})";
    DIR_NO_DOT = 0x020003, Fix, false, false,
        "Missing '.' or '..' in directory inode {ino}";
    DIR_ENTRY_BAD_INO = 0x020004, Clear, false, false,
        "Entry '{name}' in directory {dir} has bad inode #{ino} ({s})";
    DIR_ENTRY_FREE_INO = 0x020005, Clear, false, false,
        "Entry '{name}' in directory {dir} points to deleted/unused inode {ino}";
    DIR_ENTRY_FTYPE = 0x020006, Fix, true, false,
        "Entry '{name}' in directory {dir} (inode {ino}) has file type {n}, should be {m}";
    DIR_ENTRY_DUP = 0x020007, Clear, false, false,
        "Duplicate entry '{name}' in directory {dir}";
    DIR_ENTRY_DOT = 0x020008, Clear, false, false,
        "Entry '{name}' in directory {dir} is a misplaced '.' or '..'";
    DIR_HARDLINK = 0x020009, Clear, false, false,
        "Entry '{name}' in directory {dir} is a link to directory {ino}, which is already in directory {n}";
    DIR_ROOT_LINK = 0x02000A, Clear, false, false,
        "Entry '{name}' in directory {dir} is a link to the root directory";

    // Pass 3: connectivity.
    ROOT_BAD = 0x030001, Allocate, false, false,
        "The root inode is not a usable directory ({s}); make a new, empty one";
    LOST_FOUND_MISSING = 0x030002, Allocate, false, false,
        "/lost+found is missing or not a directory";
    DIR_UNCONNECTED = 0x030003, Connect, false, false,
        "Unconnected directory inode {ino} (was in {n})";
    DOTDOT_WRONG = 0x030004, Fix, false, false,
        "'..' in directory {ino} is {n}, should be {m}";
    NO_ROOM_LOST_FOUND = 0x030005, Note, false, false,
        "No room in /lost+found for inode {ino}";

    // Pass 4: link counts.
    INODE_UNATTACHED = 0x040001, Connect, false, false,
        "Unattached inode {ino}";
    INODE_UNATTACHED_EMPTY = 0x040002, Clear, true, false,
        "Unattached zero-length inode {ino}";
    LINK_COUNT = 0x040003, Fix, true, false,
        "Inode {ino} ref count is {n}, should be {m}";

    // Pass 5: bitmaps and group summaries.
    BLOCK_BITMAP_DIFF = 0x050001, Fix, true, false,
        "Block bitmap differences in group {grp}: {s}";
    INODE_BITMAP_DIFF = 0x050002, Fix, true, false,
        "Inode bitmap differences in group {grp}: {s}";
    BITMAP_CSUM = 0x050003, Fix, true, false,
        "Group {grp} {s} bitmap checksum does not match the bitmap";
    GROUP_COUNTS = 0x050004, Fix, true, false,
        "Group {grp} summary is wrong: {s}";
    GROUP_UNINIT_FLAG = 0x050005, Fix, true, false,
        "Group {grp} {s}";

    // Pass 6: fingerprint stores.
    FP_BLOCK_CSUM = 0x060001, Fix, false, false,
        "Fingerprint store block {n} of group {grp} (block {blk}) has a bad checksum";
    FP_REFCOUNT_LOW = 0x060002, Fix, true, false,
        "Block {blk} has refcount {n}, but {m} pointers refer to it";
    FP_REFCOUNT_HIGH = 0x060003, Fix, true, false,
        "Block {blk} has refcount {n}, but only {m} pointers refer to it";
    FP_UNOWNED = 0x060004, Free, true, false,
        "Block {blk} holds data (refcount {n}) but no file points to it";
    FP_META_REFCOUNT = 0x060005, Fix, false, false,
        "Metadata block {blk} ({s}) has refcount {n}, should be 0";
    FP_FREE_NOT_ZERO = 0x060006, Clear, true, false,
        "Free fingerprint entry of block {blk} is not zero";
    FP_SLACK_NOT_ZERO = 0x060007, Clear, true, false,
        "Unused bytes of fingerprint store block {n} of group {grp} are not zero";
    FP_WRONG = 0x060008, Recompute, false, false,
        "Block {blk}: the fingerprint in the store does not match its content";
    FP_ZERO_BLOCK = 0x060009, Note, false, false,
        "Note: block {blk} is all zeros (the kernel keeps such blocks as holes); harmless";
    FP_UNINIT_DATA = 0x06000A, Fix, false, false,
        "Group {grp} holds file data but its fingerprint store is marked never written";
    FP_WRONG_UNCLEAN = 0x06000B, Recompute, true, false,
        "Block {blk}: the fingerprint in the store does not match its content (written without a journal: its data did not reach the disk before the crash)";
}

/// Values for a problem's message placeholders.
#[derive(Debug, Clone, Default)]
pub struct PCtx {
    pub ino: Option<u64>,
    pub blk: Option<u64>,
    pub grp: Option<u64>,
    pub n: Option<u64>,
    pub m: Option<u64>,
    pub dir: Option<u64>,
    pub name: Option<String>,
    pub s: Option<String>,
}

impl PCtx {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn ino(mut self, v: u32) -> Self {
        self.ino = Some(u64::from(v));
        self
    }
    pub fn blk(mut self, v: u32) -> Self {
        self.blk = Some(u64::from(v));
        self
    }
    pub fn grp(mut self, v: u32) -> Self {
        self.grp = Some(u64::from(v));
        self
    }
    pub fn n(mut self, v: u64) -> Self {
        self.n = Some(v);
        self
    }
    pub fn m(mut self, v: u64) -> Self {
        self.m = Some(v);
        self
    }
    pub fn dir(mut self, v: u32) -> Self {
        self.dir = Some(u64::from(v));
        self
    }
    pub fn name(mut self, v: &[u8]) -> Self {
        self.name = Some(String::from_utf8_lossy(v).into_owned());
        self
    }
    pub fn s(mut self, v: impl Into<String>) -> Self {
        self.s = Some(v.into());
        self
    }

    /// The message of `p` with the placeholders filled in.
    pub fn expand(&self, msg: &str) -> String {
        let num = |v: Option<u64>| v.map_or_else(|| "?".to_string(), |v| v.to_string());
        msg.replace("{ino}", &num(self.ino))
            .replace("{blk}", &num(self.blk))
            .replace("{grp}", &num(self.grp))
            .replace("{n}", &num(self.n))
            .replace("{m}", &num(self.m))
            .replace("{dir}", &num(self.dir))
            .replace("{name}", self.name.as_deref().unwrap_or("?"))
            .replace("{s}", self.s.as_deref().unwrap_or("?"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_messages_complete() {
        let mut codes: Vec<u32> = TABLE.iter().map(|d| d.code).collect();
        codes.sort_unstable();
        let n = codes.len();
        codes.dedup();
        assert_eq!(codes.len(), n, "duplicate problem codes");
        for d in TABLE {
            assert!(!d.msg.is_empty());
            assert!(!(d.silent && d.question == Question::Note));
        }
        assert_eq!(P::LINK_COUNT.def().code, 0x040003);
    }
}
