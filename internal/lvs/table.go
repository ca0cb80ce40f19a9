package lvs

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// The methods below change a Table as ip_vs_ctl.c changes IPVS's tables:
// each validates its change against the whole table and either makes it
// or returns the error IPVS would give, leaving the table as it was. They
// do no I/O: lvsd applies a changed table to the data plane as a diff.

// AddService adds service s (its Reals are ignored).
func (t *Table) AddService(s Service) error {
	s.Reals = nil
	if err := ValidateService(s); err != nil {
		return err
	}
	if t.Service(s.ServiceKey) >= 0 {
		return fmt.Errorf("%w: %s", ErrServiceExists, s.ServiceKey)
	}
	t.Services = append(t.Services, s)
	// Service above left the index covering Services as they were.
	x := t.index
	x.next++
	x.seq[s.ServiceKey] = x.next
	x.seqs = append(x.seqs, x.next)
	x.base = &t.Services[0]
	return nil
}

// EditService replaces every option of service s.ServiceKey with s's,
// keeping its reals (ipvsadm -E sends a complete service).
func (t *Table) EditService(s Service) error {
	i := t.Service(s.ServiceKey)
	if i < 0 {
		return fmt.Errorf("%w: %s", ErrNoService, s.ServiceKey)
	}
	s.Reals = nil
	if err := ValidateService(s); err != nil {
		return err
	}
	s.Reals = t.Services[i].Reals
	t.Services[i] = s
	return nil
}

// DeleteService deletes service k and its reals.
func (t *Table) DeleteService(k ServiceKey) error {
	i := t.Service(k)
	if i < 0 {
		return fmt.Errorf("%w: %s", ErrNoService, k)
	}
	t.Services = slices.Delete(t.Services, i, i+1)
	x := t.index
	delete(x.seq, k)
	x.seqs = slices.Delete(x.seqs, i, i+1)
	return nil
}

// Clear deletes every service.
func (t *Table) Clear() { t.Services, t.index = nil, nil }

// AddReal adds real r to service k, at the head of its list as
// ip_vs_ctl.c does.
func (t *Table) AddReal(k ServiceKey, r Real) error {
	i := t.Service(k)
	if i < 0 {
		return fmt.Errorf("%w: %s", ErrNoService, k)
	}
	if err := ValidateReal(k, r); err != nil {
		return err
	}
	s := &t.Services[i]
	if s.Real(r.Addr) >= 0 {
		return fmt.Errorf("%w: %s", ErrRealExists, r.Addr)
	}
	if len(s.Reals) >= MaxReals {
		return fmt.Errorf("%w: %d reals in %s", ErrTableFull, MaxReals, k)
	}
	s.Reals = append([]Real{r}, s.Reals...)
	return nil
}

// EditReal replaces the options of real r.Addr of service k.
func (t *Table) EditReal(k ServiceKey, r Real) error {
	i, j, err := t.real(k, r.Addr)
	if err != nil {
		return err
	}
	if err := ValidateReal(k, r); err != nil {
		return err
	}
	t.Services[i].Reals[j] = r
	return nil
}

// DeleteReal deletes real addr from service k.
func (t *Table) DeleteReal(k ServiceKey, addr netip.AddrPort) error {
	i, j, err := t.real(k, addr)
	if err != nil {
		return err
	}
	t.Services[i].Reals = slices.Delete(t.Services[i].Reals, j, j+1)
	return nil
}

func (t *Table) real(k ServiceKey, addr netip.AddrPort) (svc, real int, err error) {
	svc = t.Service(k)
	if svc < 0 {
		return 0, 0, fmt.Errorf("%w: %s", ErrNoService, k)
	}
	real = t.Services[svc].Real(addr)
	if real < 0 {
		return 0, 0, fmt.Errorf("%w: %s", ErrNoReal, addr)
	}
	return svc, real, nil
}

// SetTimeouts changes the timeouts; a zero field leaves that timeout as
// it is. IPVS refuses values above INT_MAX jiffies; ipvsadm refuses more
// than MaxPersistence, which is the bound kept here.
func (t *Table) SetTimeouts(n Timeouts) error {
	for _, d := range []time.Duration{n.TCP, n.TCPFin, n.UDP} {
		if d < 0 || d > MaxPersistence || d%time.Second != 0 {
			return fmt.Errorf("%w: timeout %v", ErrInvalid, d)
		}
	}
	if n.TCP != 0 {
		t.Timeouts.TCP = n.TCP
	}
	if n.TCPFin != 0 {
		t.Timeouts.TCPFin = n.TCPFin
	}
	if n.UDP != 0 {
		t.Timeouts.UDP = n.UDP
	}
	return nil
}
