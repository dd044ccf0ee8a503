# netauth portal strings: Arabic (العربية), written right to left.
# Machine-made translation (not yet reviewed by a native speaker); corrections welcome.

language-name = العربية
language = اللغة

auth-required-title = يلزم تسجيل الدخول إلى الشبكة
auth-required-text = يجب عليك تسجيل الدخول إلى { $venue } قبل أن تتمكن من استخدام الشبكة.
sign-in = تسجيل الدخول
sign-in-required = تسجيل الدخول مطلوب
sign-in-to-use = سجّل الدخول لاستخدام هذه الشبكة

why-quota = نفدت حصة البيانات الخاصة بك. سجّل الدخول مرة أخرى للمتابعة.
why-expired = انتهى وقت جلستك. سجّل الدخول مرة أخرى للمتابعة.
why-idle = انتهت جلستك لأن الجهاز كان غير نشط. سجّل الدخول مرة أخرى للمتابعة.
why-operator = أنهى مشغّل الشبكة جلستك.
why-moved = انتقلت جلستك إلى عنوان آخر لجهازك (سجّلت القسيمة نفسها الدخول من عنوان جديد). سجّل الدخول مرة أخرى للمتابعة هنا.

login-title = تسجيل الدخول إلى { $venue }
welcome = مرحبًا بك في { $venue }
default-terms = باتصالك توافق على استخدام هذه الشبكة بشكل قانوني ومراعٍ للآخرين. يجوز للمشغّل تسجيل العنوان المادي لجهازك ووقت جلستك، ويجوز له إنهاء الجلسات في أي وقت.
terms-heading = شروط الاستخدام
username = اسم المستخدم
password = كلمة المرور
voucher-code = رمز القسيمة
accept-connect = موافقة واتصال
login-expired = انتهت صلاحية هذه الصفحة. يُرجى المحاولة مرة أخرى.
login-device-limit = هذا الحساب مسجَّل الدخول بالفعل على أقصى عدد مسموح به من الأجهزة.
login-invalid-voucher = رمز القسيمة غير صالح.
login-invalid-credentials = اسم المستخدم أو كلمة المرور غير صحيحة.

status-title = حالة الجلسة
online-title = أنت متصل بالإنترنت
online-text = جهازك ({ $mac }) مسجّل الدخول إلى { $venue }.
time-left = الوقت المتبقي:
data-left = البيانات المتبقية:
randomized-note = يستخدم جهازك عنوانًا خاصًا (عشوائيًا) على هذه الشبكة. إذا غادرت الشبكة وانضممت إليها مجددًا، فقد يستخدم عنوانًا جديدًا ويطلب منك تسجيل الدخول مرة أخرى.
log-out = تسجيل الخروج
not-signed-in-title = لم يتم تسجيل الدخول
not-signed-in-text = جهازك غير مسجّل الدخول إلى { $venue }.
signed-out-title = تم تسجيل الخروج
signed-out-text = لم يعد جهازك مسجّل الدخول إلى { $venue }.
sign-in-again = تسجيل الدخول مرة أخرى

error-not-on-lan-title = لم يتم التعرف على الجهاز
error-not-on-lan = لا يمكن استخدام هذه الصفحة إلا من جهاز متصل بشبكة الضيوف. إذا كنت متصلًا، فأعد الاتصال بالشبكة وحاول مرة أخرى.
error-ambiguous-title = يُرجى المحاولة مرة أخرى
error-ambiguous = لم نتمكن من معرفة الجهاز الذي أرسل هذا الطلب. يُرجى المحاولة مرة أخرى.
error-forged-title = انتهت صلاحية الصفحة
error-forged = انتهت صلاحية هذا النموذج أو لم يُرسَل من صفحة تسجيل الدخول لهذه الشبكة. يُرجى الرجوع وإعادة تحميل الصفحة والمحاولة مرة أخرى.
error-not-accepted-title = لم يتم قبول الشروط
error-not-accepted = يُرجى الرجوع وقبول شروط الاستخدام للاتصال.
error-full-title = الشبكة ممتلئة
error-full = لا تستطيع الشبكة استقبال المزيد من الأجهزة الآن. يُرجى المحاولة لاحقًا.
error-auth-unavailable-title = تسجيل الدخول غير متاح
error-auth-unavailable = خدمة تسجيل الدخول لا تستجيب الآن. يُرجى المحاولة بعد دقيقة.
error-internal-title = حدث خطأ ما
error-internal = يُرجى المحاولة مرة أخرى.
error-end-not-recorded-title = تم تسجيل الخروج
error-end-not-recorded = تم تسجيل خروج جهازك، لكن الشبكة لم تتمكن من تسجيل ذلك بعد.
error-store-title = تسجيل الدخول غير متاح
error-store = لا تستطيع الشبكة تسجيل عمليات الدخول الآن. يُرجى المحاولة بعد دقيقة.
error-session-title = حدث خطأ ما
error-session = تعذّر تسجيل دخول جهازك. يُرجى المحاولة مرة أخرى.
error-grant-refused-title = تم رفض تسجيل الدخول
error-grant-refused = تعذّر تأكيد تسجيل الدخول: فقد تم تغييره أو انتهت صلاحيته أو استُخدم من قبل أو كان مخصصًا لجهاز آخر. يُرجى البدء من جديد.
error-not-found-title = غير موجودة
error-not-found = لا توجد صفحة كهذه على هذه البوابة.
