package config

import (
	"errors"
	"strings"
)

// SplitCommand splits a command line into words as a shell would without
// expanding anything: blanks separate words, single quotes keep
// everything, double quotes keep everything but \" and \\, and a
// backslash outside quotes keeps the next character. keepalived splits
// notify_up, quorum_up and misc_path strings the same way.
func SplitCommand(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
		quote byte
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
				i++
				cur.WriteByte(s[i])
			default:
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == '\\':
			if i+1 == len(s) {
				return nil, errors.New("command ends with a backslash")
			}
			i++
			cur.WriteByte(s[i])
			in = true
		case c == ' ' || c == '\t' || c == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, errors.New("command has an unterminated quote")
	}
	if in {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, errors.New("command is empty")
	}
	return words, nil
}

// SplitUser splits keepalived's "user", "user:group" or "user group"
// (given as one or two words) into its parts.
func SplitUser(words ...string) (user, group string, err error) {
	switch len(words) {
	case 1:
		user, group, _ = strings.Cut(words[0], ":")
	case 2:
		user, group = words[0], words[1]
	default:
		return "", "", errors.New("expected a user and an optional group")
	}
	if user == "" || strings.Contains(group, ":") {
		return "", "", errors.New("expected user or user:group")
	}
	return user, group, nil
}
