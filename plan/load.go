package plan

import (
	"fmt"
	"os"

	"github.com/lifeboat-dr/lifeboat/plan/strictyaml"
)

// Problem is one error or warning in a plan, with where it is written:
// "plan.yaml:12:5: storage[0].device_config: lvmoiscsi needs targetIQN ...".
type Problem = strictyaml.Problem

// Problems is the error returned for an invalid plan: every problem found,
// one per line, in file order.
type Problems = strictyaml.Problems

// Load reads, decodes and validates a plan file. An invalid plan returns
// Problems listing every problem with its line.
func Load(path string) (*Plan, error) {
	p, _, err := LoadChecked(path)
	return p, err
}

// Parse decodes and validates a plan. filename is used in problems only.
func Parse(data []byte, filename string) (*Plan, error) {
	p, _, err := Check(data, filename)
	return p, err
}

// LoadChecked is Load that also returns the warnings (problems that do not
// stop a run, such as a missing failback_storage).
func LoadChecked(path string) (*Plan, Problems, error) {
	return LoadCheckedIn(path, nil)
}

// LoadCheckedIn is LoadChecked that also checks the plan against the worker
// configuration that will run it (env; nil checks the plan alone).
func LoadCheckedIn(path string, env *Environment) (*Plan, Problems, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, &ReadError{Path: path, Err: unwrapPathError(err)}
	}
	return CheckIn(data, path, env)
}

// ReadError is a plan file that could not be read at all (missing, not
// readable): not an invalid plan, and said so.
type ReadError struct {
	Path string
	Err  error
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("cannot read the plan %s: %v; check the path", e.Path, e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }

// Check decodes and validates a plan, returning the plan, its warnings and,
// if it is invalid, Problems as the error. The plan is nil when the YAML
// itself could not be decoded.
func Check(data []byte, filename string) (*Plan, Problems, error) {
	return CheckIn(data, filename, nil)
}

// CheckIn is Check against a worker configuration (env; nil: none). Unknown
// keys do not stop the check: the rest of the plan is checked too, so every
// problem is said at once.
func CheckIn(data []byte, filename string, env *Environment) (*Plan, Problems, error) {
	var p Plan
	pos, probs, filled := strictyaml.DecodeKnown(data, filename, &p)
	if !filled {
		return nil, nil, probs
	}
	v := validator{file: filename, pos: pos, probs: probs}
	v.plan(&p)
	v.environment(&p, env)
	v.size(&p)
	return &p, v.warnings(), v.err()
}

// Validate checks a plan that did not come from a file (a workflow input
// written as JSON in the Temporal UI): the same rules, without line numbers.
func (p *Plan) Validate() (warnings Problems, err error) {
	v := validator{}
	v.plan(p)
	v.size(p)
	return v.warnings(), v.err()
}

// unwrapPathError drops the path os.ReadFile repeats, since the problem
// already names the file.
func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
