package rewrite

import (
	"fmt"
	"strings"

	"github.com/mmapguard/mmapguard/region"
)

// Call is one system call: as the program made it, or as the guard wants
// it made.
type Call struct {
	ABI  ABI
	Nr   uint64
	Args [6]uint64

	// Mem holds arguments that live in the program's memory, read by the
	// tracer: old_mmap's six-word struct. HaveMem is false if the tracer
	// could not read them.
	Mem     [6]uint64
	HaveMem bool
	// ShmSize is the size of the segment a shmat attaches, looked up by
	// the tracer (IPC_STAT); 0 when unknown.
	ShmSize uint64
	// HugePage is, for an mmap or mremap of huge pages (MAP_HUGETLB, a
	// hugetlbfs file or memfd, or the mapping an mremap moves), their
	// size: the kernel rounds the call's lengths up to it. The tracer
	// looks it up; 0 for ordinary pages, HugeUnknown where the mapping
	// may hold huge pages of a size the tracer could not learn.
	HugePage uint64
	// LateFail says, for an mmap of a file (hugetlbfs's for MAP_HUGETLB
	// too), that the file's mmap method may fail after the kernel has
	// unmapped what a MAP_FIXED call replaces, which then leaves a gap
	// where the mapping failed (Linux 6.12 and later): huge pages with
	// none free, MAP_SYNC on a file without DAX, a perf event mapped
	// private, a device, a file system the tracer does not know. The
	// tracer looks it up; an ordinary file of a local disk file system
	// or tmpfs leaves it false.
	LateFail bool
	// BadFd says, for an mmap of a file, that the descriptor was not
	// open at the tracer's look: the kernel refuses the call (EBADF)
	// before it looks at anything else.
	BadFd bool
	// ShmDetaches is, for a shmdt, every mapping the kernel's shmdt
	// would detach, as the tracer found them in the program's layout:
	// the first System V shared memory mapping at or above the address
	// whose offset in its segment is its distance from the address,
	// and every other mapping of the same segment placed so (pieces a
	// program moved with mremap keep their offsets).
	ShmDetaches []region.Range
	// ShmDetachesUnknown says the tracer could not tell what a shmdt
	// would detach (the layout unreadable).
	ShmDetachesUnknown bool
	// OldAIO says the mapping an mremap moves is an AIO ring, which the
	// kernel unmaps by itself at io_destroy, a call no filter sees as one
	// that unmaps.
	OldAIO bool
	// Arena says, for an mmap of a file, that the descriptor is a BPF
	// arena (BPF_MAP_TYPE_ARENA): the kernel's get_unmapped_area for
	// one never lets its mapping cross a 4 GiB line, and moves a range
	// that would up to the line, MAP_FIXED too (see ArenaLine). The
	// tracer looks it up.
	Arena bool
	// Place is where the tracer wants this mmap to land: it recognised
	// the system loader's first mapping of a shared object that has a
	// placement (package loader). 0 when none. PlaceStrict makes the call
	// fail (EEXIST) rather than land elsewhere when Place is taken.
	Place       uint64
	PlaceStrict bool
}

// Op classifies the call.
func (c Call) Op() Op { return Classify(c.ABI, c.Nr) }

// mapsFile reports whether c is an mmap of a file (hugetlbfs's too, for
// MAP_HUGETLB), whose mmap method runs after the kernel has unmapped a
// MAP_FIXED target.
func (c Call) mapsFile() bool {
	flags := c.Args[3]
	switch c.Op() {
	case OpMmap:
	case OpOldMmap:
		flags = c.Mem[3]
	default:
		return false
	}
	return flags&MapAnonymous == 0 || c.HugePage != 0
}

// Forged reports whether ret, taken as c's result, is one the kernel
// never gives: a fixed mmap (MAP_FIXED or MAP_FIXED_NOREPLACE, its
// arguments in registers) that succeeds returns its address, nothing
// else. Only a seccomp filter of the program's answers otherwise, for a
// call it kept from running (SECCOMP_RET_ERRNO with 0; SECCOMP_RET_TRAP,
// which leaves the call's number).
func (c Call) Forged(ret uint64) bool {
	if c.Op() != OpMmap || c.Args[3]&(MapFixed|MapFixedNoReplace) == 0 {
		return false
	}
	if _, failed := Failed(c.ABI, ret); failed {
		return false
	}
	if c.ABI == ABI32 {
		return uint32(ret) != uint32(c.Args[0])
	}
	return ret != c.Args[0]
}

func (c Call) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v(", c.Op())
	if c.Op() == OpOther {
		fmt.Fprintf(&b, "nr=%d", c.Nr)
	} else {
		for i, a := range c.Args[:argCount(c)] {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%#x", a)
		}
	}
	b.WriteByte(')')
	if c.ABI != ABI64 {
		fmt.Fprintf(&b, " [%v]", c.ABI)
	}
	return b.String()
}

func argCount(c Call) int {
	switch c.Op() {
	case OpMmap, OpIPC, OpMbind:
		return 6
	case OpMremap, OpClone, OpGetMempolicy, OpRemapFile:
		return 5
	case OpPkeyMprotect:
		return 4
	case OpMprotect, OpMadvise, OpShmat, OpMsync, OpMincore:
		return 3
	case OpMunmap, OpMseal, OpMlock, OpClone3, OpIoSetup, OpArchPrctl:
		return 2
	case OpIoDestroy:
		return 1
	}
	return 1
}

// Caller says who made a call. The tracer fills it in; only Owner
// matters to the decision, Task to when the pool space the call gives
// back may be handed out again.
type Caller struct {
	// Owner is true when the calling code is allowed to use protected
	// ranges freely (an owner rule matched it).
	Owner bool
	// Placed is true when the call is the system loader mapping part of
	// a shared object the tracer placed, inside the span it placed it
	// at (a segment, or the zero-fill after one): an allowed requester
	// there, even under a strict policy.
	Placed bool
	// Task names the thread that made the call (the tracer gives its
	// id): see Guard.Settle. Callers that leave it 0 for calls of
	// several threads lose the guarantee that pool space one of them
	// gives back is not handed to another before it is reserved again.
	Task int
}

// Verdict is the kind of Action.
type Verdict uint8

const (
	// Allow runs the call unchanged.
	Allow Verdict = iota
	// Run runs Action.Steps instead of the call.
	Run
	// Return skips the call; the program sees Action.Ret.
	Return
	// Kill ends the process: no answer keeps the guarantee.
	Kill
)

func (v Verdict) String() string {
	return [...]string{"allow", "run", "return", "kill"}[v]
}

// Outcome classifies a decision for counting and logs.
type Outcome uint8

const (
	Allowed   Outcome = iota // left alone
	Rewritten                // changed (hint dropped, flags adjusted, split)
	Rerouted                 // moved into the pool
	Emulated                 // answered as the kernel would, without the call
	Denied                   // refused by policy (EPERM, ENOSYS)
	Killed                   // no safe answer
	numOutcomes
)

func (o Outcome) String() string {
	return [...]string{"allowed", "rewritten", "rerouted", "emulated", "denied", "killed"}[o]
}

// Step is one call in a Run action. The tracer runs the steps in order.
// If a step fails and Tolerate is false, the tracer runs the Undo calls
// of the steps already done (last first), skips the rest, and the program
// sees the failed step's result.
type Step struct {
	Call     Call
	Undo     []Call
	Tolerate bool
	// OrElse makes a step one of two alternatives: if it succeeds, the
	// rest of the steps are skipped and its result is the program's; if
	// it fails, the next step runs instead.
	OrElse bool
	// FailRet, if not 0, is the program's result when the step fails
	// (and Tolerate is false), in place of the step's own: a probe whose
	// error is not the one the program's call would get.
	FailRet uint64
	// Continue, if not 0, is a failure that does not stop the steps: the
	// next one runs, and with FixRet the program gets Ret (madvise's
	// ENOMEM for a hole, after which the kernel goes on).
	Continue uint64
}

// Action is the guard's answer for one call.
type Action struct {
	Verdict Verdict
	Outcome Outcome
	// Steps are the calls to run, for Run.
	Steps []Step
	// Ret is the program's result: for Return always; for Run when all
	// steps succeeded and FixRet is set (otherwise the last step's result
	// is passed through).
	Ret    uint64
	FixRet bool
	// Exit asks the tracer to report the result through Guard.Complete.
	Exit bool
	// Verify, with Exit, is for a file mapping judged as ordinary pages
	// the range it should occupy: the tracer checks after the call that
	// the kernel mapped it so, and fails closed if it was made of huge
	// pages reaching beyond (another thread may have swapped the
	// descriptor for a hugetlb one between the tracer's look and the
	// kernel's).
	Verify region.Range
	// Rescan, with Exit, asks the tracer to read the layout after the
	// call and hand what it finds unmapped in guarded ranges to
	// Guard.Refill: for a call whose effect the guard cannot foresee
	// exactly (a shmdt of an attachment it did not see). With Hole.
	Rescan bool
	// RescanFailed is Rescan for a failed call only: a length-keeping
	// MREMAP_FIXED move, which since Linux 6.17 moves the mappings of
	// the old range one by one and can fail after some moved (a later
	// one sealed, registered with a userfaultfd, of a file with its own
	// get_unmapped_area), leaving holes where the model, rolled back,
	// still has the program's mappings. With Hole.
	RescanFailed bool
	// Hole says the call itself can unmap part of a guarded range, which
	// stays free until Complete's After calls put the reservation back
	// (a mapping moved out by mremap, a heap shrinking out, a shmdt
	// across a range's edge). Any other thread of the address space
	// could map there meanwhile: the tracer keeps them all stopped from
	// before the call runs until the After calls are done.
	Hole bool
	// Why says in a few words why this action was chosen.
	Why string
	// Warn, if set, is a warning for the user, which the tracer prints
	// once per run: the call will fail because of the policy, and the
	// program may not say why (a JIT's MAP_32BIT code buffer).
	Warn string

	call    Call     // the call as made (normalised)
	pending *pending // model changes to roll back if the call fails
}

// QuietOnSuccess reports whether Complete has nothing to do for this
// action when its call succeeds (it only rolls back on failure), so that
// a tracer may skip looking at a successful result.
func (a *Action) QuietOnSuccess() bool {
	p := a.pending
	if p == nil {
		return true
	}
	if p.brk {
		return false
	}
	switch a.call.Op() {
	case OpMremap, OpShmat, OpIPC:
		return false
	}
	return true
}

// MapsProtected reports whether the action's call is expected to map
// something of the program's in a protected range of policy p (a
// MAP_FIXED_NOREPLACE over the guard's reservations, rewritten to
// MAP_FIXED): the model holds it for the program's from the decision
// on, and only the call's failure, if it is seen, takes that back. A
// tracer must see that failure itself: a report the program's own code
// path makes (the one-stop code page) can be skipped by the program (a
// signal handler that leaves the code page with siglongjmp, a write to
// the page through /proc/self/mem), and the reservation the failed call
// left in place would then be the program's to make read-write.
func (a *Action) MapsProtected(p *Policy) bool {
	return a.pending != nil && p.protected.Overlaps(a.pending.taken)
}

// Call returns the call the action answers, normalised: i386 arguments
// masked to 32 bits.
func (a *Action) Call() Call { return a.call }

func (a *Action) String() string {
	var b strings.Builder
	b.WriteString(a.Outcome.String())
	switch a.Verdict {
	case Run:
		b.WriteString(": ")
		for i, s := range a.Steps {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(s.Call.String())
		}
		if a.FixRet {
			fmt.Fprintf(&b, " = %s", retString(a.call.ABI, a.Ret))
		}
	case Return:
		fmt.Fprintf(&b, " = %s", retString(a.call.ABI, a.Ret))
	}
	if a.Why != "" {
		fmt.Fprintf(&b, " (%s)", a.Why)
	}
	return b.String()
}

func retString(abi ABI, ret uint64) string {
	if e, ok := Failed(abi, ret); ok {
		if n, ok := errnoNames[e]; ok {
			return "-" + n
		}
		return fmt.Sprintf("-%d", e)
	}
	return fmt.Sprintf("%#x", ret)
}

var errnoNames = map[int]string{
	EPERM: "EPERM", EBADF: "EBADF", ENOMEM: "ENOMEM", EFAULT: "EFAULT",
	EEXIST: "EEXIST", EINVAL: "EINVAL", ENOSYS: "ENOSYS",
}

// Fix is what Complete asks of the tracer once a call's result is known.
type Fix struct {
	// After are calls to inject now (putting reservations back); their
	// results go to Guard.Injected.
	After []Call
}
