package sim

import (
	"sort"
	"time"
)

// This file is session handling: login (with HOST_IS_SLAVE handled by dispatch), logout
// (which unregisters a foreign database), and the few session getters clients use.

func init() {
	register("session.login_with_password", func(c *call) any {
		u, ok := c.pool.users[c.str(0)]
		if !ok || u.Password != c.str(1) {
			c.authenticationFailed(c.str(0))
		}
		s := &Session{Ref: c.w.newRef(), User: u.Name, Role: u.Role, created: time.Now(), ttl: c.pool.sessionTTL}
		c.pool.sessions[s.Ref] = s
		return s.Ref
	})
	register("session.logout", func(c *call) any {
		// Dropping the session drops its foreign database with it.
		c.pool.dropSession(c.sess)
		return nil
	})
	register("session.local_logout", func(c *call) any {
		c.pool.dropSession(c.sess)
		return nil
	})
	register("session.get_this_host", func(c *call) any {
		if c.str(1) != c.sess.Ref {
			c.fail("HANDLE_INVALID", "session", c.str(1))
		}
		return c.pool.master.ref
	})
	register("session.get_uuid", func(c *call) any {
		if c.str(1) != c.sess.Ref {
			c.fail("HANDLE_INVALID", "session", c.str(1))
		}
		return c.sess.Ref[len("OpaqueRef:"):]
	})
	register("session.get_auth_user_name", func(c *call) any { return c.sess.User })
	register("session.get_rbac_permissions", func(c *call) any {
		if c.str(1) != c.sess.Ref {
			c.fail("HANDLE_INVALID", "session", c.str(1))
		}
		return rbacPermissions(c.sess)
	})
	register("session.get_all_subject_identifiers", func(c *call) any { return []string{} })
}

// Delays before a refused login answers, scaled by the world's speed.
const (
	// pamFailDelay is pam_unix's default delay after a failed password check
	// (pam_fail_delay of 2 s; xapi sets no PAM_FAIL_DELAY of its own).
	pamFailDelay = 2 * time.Second
	// externalAuthFailDelay is Xapi_session's thread_delay_and_raise_error,
	// slept "to avoid someone brute-forcing the password".
	externalAuthFailDelay = 5 * time.Second
)

// authenticationFailed refuses a login as Xapi_session.login_with_password
// does: SESSION_AUTHENTICATION_FAILED [username; PAM's message]. root is
// checked by PAM (do_local_auth raises at once, after PAM's own delay);
// any other name is an external (AD) user, since only those can hold the
// pool's other roles, and fails after xapi's 5 s delay. A pool with root
// alone has no external authentication: every name goes to PAM.
func (c *call) authenticationFailed(user string) {
	delay := pamFailDelay
	if user != "root" && c.pool.externalAuth() {
		delay = externalAuthFailDelay
	}
	c.sleep(delay)
	c.fail("SESSION_AUTHENTICATION_FAILED", user, "Authentication failure")
}

// externalAuth reports whether the pool has users other than root, which in
// real xapi are subjects of an external directory.
func (p *Pool) externalAuth() bool {
	for name := range p.users {
		if name != "root" {
			return true
		}
	}
	return false
}

// roleAtLeastPoolOperator is the "has VDI.open_database permission" test used for DR.
func roleAtLeastPoolOperator(role string) bool {
	return role == "pool-admin" || role == "pool-operator"
}

// rbacPermissions is what session.rbac_permissions holds: empty for the
// local superuser (root bypasses RBAC), else every permission of the role,
// i.e. each message whose datamodel roles include it.
func rbacPermissions(s *Session) []string {
	if s.User == "root" {
		return []string{}
	}
	perms := []string{}
	for cls, def := range schema {
		for name, msg := range def.Messages {
			if msg.Roles[s.Role] {
				perms = append(perms, permissionName(cls+"."+name))
			}
		}
	}
	sort.Strings(perms)
	return perms
}
