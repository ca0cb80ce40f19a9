package datapath

import (
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
)

// IPVS's lblc/lblcr garbage collection (ip_vs_lblc.c, ip_vs_lblcr.c).
const (
	// schedGCPeriod is CHECK_EXPIRE_INTERVAL: how often the timer runs.
	schedGCPeriod = 60 * time.Second
	// schedFullEvery is COUNT_FOR_FULL_EXPIRATION: every so many runs a
	// full scan removes entries unused for schedExpiration.
	schedFullEvery = 30
	// schedExpiration is DEFAULT_EXPIRATION, the lblc_expiration and
	// lblcr_expiration sysctls' default.
	schedExpiration = time.Duration(lvsLvsAbiLVS_LBLC_EXPIRATION_S) * time.Second
	// schedMaxSize is a service table's max_size (LBLC_TAB_SIZE * 16);
	// above it a run removes entries unused for schedEntryTimeout.
	schedMaxSize = 1024 * 16
	// schedEntryTimeout is ENTRY_TIMEOUT.
	schedEntryTimeout = 6 * time.Minute
)

// SweepSchedState expires lblc and lblcr entries as IPVS's per-service
// timer does; lvsd calls it from its 1 s sweep, and it does the work at
// most once per 60 s (CHECK_EXPIRE_INTERVAL). Every 30th run removes the
// entries unused for 24 h; the runs between remove, from a service with
// more than 16384 entries, up to min((entries-16384)*4/3, 8192) entries
// unused for 6 minutes.
func (d *Datapath) SweepSchedState() error {
	now := Now()
	d.schedMu.Lock()
	defer d.schedMu.Unlock()
	if d.schedLast != 0 && now-d.schedLast < schedGCPeriod {
		return nil
	}
	d.schedLast = now
	return d.sweepSchedState(now)
}

// sweepSchedState is one run of the timer at time now. schedMu is held.
// IPVS keeps one counter per service; golvs keeps one for all, so a full
// scan is made for every service in the same run.
func (d *Datapath) sweepSchedState(now time.Duration) error {
	if d.schedRuns == 0 {
		d.schedRuns = 1 // tbl->counter starts at 1
	}
	type entry struct {
		key     lvsLvsLblcKey
		lastuse time.Duration
	}
	var (
		k       lvsLvsLblcKey
		v       lvsLvsLblcEntry
		byOwner = map[uint32][]entry{}
	)
	it := d.objs.LvsLblc.Iterate()
	for it.Next(&k, &v) {
		byOwner[k.Service] = append(byOwner[k.Service], entry{k, time.Duration(v.LastuseNs)})
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("sweep scheduler state: %w", err)
	}
	var errs []error
	del := func(e entry) bool {
		err := d.objs.LvsLblc.Delete(&e.key)
		if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, err)
			return false
		}
		return err == nil
	}
	if d.schedRuns%schedFullEvery == 0 {
		for _, es := range byOwner {
			for _, e := range es {
				if now-e.lastuse >= schedExpiration {
					del(e)
				}
			}
		}
		d.schedRuns = 1
		return errors.Join(errs...)
	}
	over := false
	for _, es := range byOwner {
		if len(es) <= schedMaxSize {
			continue
		}
		over = true
		goal := min((len(es)-schedMaxSize)*4/3, schedMaxSize/2)
		for _, e := range es {
			if goal <= 0 {
				break
			}
			if now-e.lastuse >= schedEntryTimeout && del(e) {
				goal--
			}
		}
	}
	if !over {
		d.schedRuns++
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sweep scheduler state: %w", err)
	}
	return nil
}

// dropSchedState deletes service id's lblc/lblcr entries.
func (d *Datapath) dropSchedState(id ServiceID) error {
	return d.dropSchedStates(map[ServiceID]bool{id: true})
}

// dropSchedStates does dropSchedState for each of ids, reading the lblc
// map once.
func (d *Datapath) dropSchedStates(ids map[ServiceID]bool) error {
	if len(ids) == 0 {
		return nil
	}
	keys, err := keysOf(d.objs.LvsLblc, func(k *lvsLvsLblcKey, _ *lvsLvsLblcEntry) bool { return ids[ServiceID(k.Service)] })
	if err != nil {
		return fmt.Errorf("scheduler state: %w", err)
	}
	for _, k := range keys {
		if err := d.objs.LvsLblc.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("scheduler state: %w", err)
		}
	}
	return nil
}
