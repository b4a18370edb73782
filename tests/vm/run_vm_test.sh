#!/usr/bin/env bash
# The kernel module's test in a real kernel: builds kmod/ against Debian's headers, boots
# Debian's kernel under qemu (software emulation; this host's kernel loads no modules) with the
# host's files shared read-only over 9p, and runs guest_test.sh inside. Passes only when qemu
# reports the guest script's exit status 0 through the isa-debug-exit port and the log ends
# with the PASS line: a panic (qemu exits 0) or a hang (timeout's 124) fails.
# Usage: tests/vm/run_vm_test.sh BUILD_DIR        (keeps its files in BUILD_DIR/vm-test)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: run_vm_test.sh BUILD_DIR}" && pwd)
kver=$("$src/scripts/kernel-version.sh")
kernel=/boot/vmlinuz-$kver
headers=/lib/modules/$kver/build
for need in "$kernel" "$headers" /usr/bin/qemu-system-x86_64 /bin/busybox; do
  if [ ! -e "$need" ]; then
    echo "run_vm_test: $need is missing: run scripts/install-deps.sh" >&2
    exit 1
  fi
done
work=$build/vm-test
rm -rf "$work"
mkdir -p "$work/kmod" "$work/initramfs"/{bin,dev,proc,sys,newroot,modules}

# The module, built out of the source tree so the checkout stays clean.
cp "$src"/kmod/{vhsm_transport.c,Kbuild,Makefile} "$work/kmod/"
make -s -C "$headers" M="$work/kmod" VHSM_PROTOCOL_DIR="$src/protocol" VHSM_WERROR=1 modules >"$work/kmod.log" 2>&1 ||
  { cat "$work/kmod.log"; exit 1; }
echo "run_vm_test: built vhsm_transport.ko for $kver"

# A busybox initramfs whose only job is to mount the host's files and run the guest script.
modules="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache
         9pnet 9pnet_virtio 9p"
for m in $modules; do
  find "/lib/modules/$kver/kernel" -name "$m.ko" -exec cp {} "$work/initramfs/modules/" \;
done
cp /bin/busybox "$work/initramfs/bin/busybox"
cat >"$work/initramfs/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc && mount -t sysfs sys /sys && mount -t devtmpfs dev /dev
for m in $(echo $modules); do insmod /modules/\$m.ko || echo "init: insmod \$m failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro hostroot /newroot
mkdir -p /host && mount -o bind /newroot /host  # a view of the host's files nothing covers
for fs in proc:proc sysfs:sys devtmpfs:dev tmpfs:tmp tmpfs:run; do
  mount -t \${fs%%:*} \${fs%%:*} /newroot/\${fs##*:}
done
# A checkout or build under /tmp or /run (a CI clone, say) stays visible on the fresh tmpfs.
for path in "$src" "$build"; do
  case \$path in /tmp/*|/run/*) mkdir -p /newroot\$path && mount -o bind /host\$path /newroot\$path ;; esac
done
chroot /newroot /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  /bin/bash "$src/tests/vm/guest_test.sh" "$src" "$build" "$work/kmod/vhsm_transport.ko" \
  >/dev/ttyS1 2>&1
rc=\$?
echo "guest script exit status \$rc" >/dev/ttyS1
# qemu exits with 2*status+1 on a write to the isa-debug-exit port.
printf "\\\\\$(printf %o \$rc)" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
poweroff -f
INIT
chmod +x "$work/initramfs/init"
(cd "$work/initramfs" && find . | cpio -o -H newc --quiet | gzip -1 >"$work/initramfs.cpio.gz")

echo "run_vm_test: booting $kernel under qemu (TCG); guest log follows"
set +e
timeout 900 qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 1 -M pc -nodefaults \
  -no-user-config -display none -no-reboot -monitor none \
  -serial file:"$work/console.log" -serial file:"$work/results.txt" \
  -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -kernel "$kernel" -initrd "$work/initramfs.cpio.gz" \
  -append "console=ttyS0 panic=-1 oops=panic panic_on_warn=1 quiet" </dev/null
qemu_rc=$?
set -e
tr -d '\r' <"$work/results.txt" >"$work/results.log" # the guest's serial line writes CRLF
cat "$work/results.log"
if [ $qemu_rc -eq 1 ] && tail -2 "$work/results.log" | grep -q "^VHSM-VM-RESULT: PASS$"; then
  echo "run_vm_test: PASS"
  exit 0
fi
case $qemu_rc in
  0) why="the guest kernel panicked or powered off without a result" ;;
  124) why="the guest hung (timeout)" ;;
  *) why="qemu exit status $qemu_rc" ;;
esac
echo "run_vm_test: FAIL: $why; kernel console:" >&2
tail -40 "$work/console.log" >&2
exit 1
