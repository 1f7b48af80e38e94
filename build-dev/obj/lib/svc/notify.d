build-dev/obj/lib/svc/notify.o: lib/svc/notify.c lib/svc/notify.h \
 /usr/include/hiredis/hiredis.h /usr/include/hiredis/read.h \
 /usr/include/hiredis/sds.h /usr/include/hiredis/alloc.h lib/sys/io.h \
 lib/base/buf.h lib/sys/log.h lib/base/mem.h
lib/svc/notify.h:
/usr/include/hiredis/hiredis.h:
/usr/include/hiredis/read.h:
/usr/include/hiredis/sds.h:
/usr/include/hiredis/alloc.h:
lib/sys/io.h:
lib/base/buf.h:
lib/sys/log.h:
lib/base/mem.h:
