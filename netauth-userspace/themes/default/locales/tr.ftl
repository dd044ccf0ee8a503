# netauth portal strings: Turkish (Türkçe).
# Machine-made translation (not yet reviewed by a native speaker); corrections welcome.

language-name = Türkçe
language = Dil

auth-required-title = Ağ kimlik doğrulaması gerekli
auth-required-text = Ağı kullanabilmek için önce { $venue } ağına giriş yapmanız gerekir.
sign-in = Giriş yap
sign-in-required = Giriş gerekli
sign-in-to-use = Bu ağı kullanmak için giriş yapın

why-quota = Veri kotanız doldu. Devam etmek için yeniden giriş yapın.
why-expired = Oturum süreniz doldu. Devam etmek için yeniden giriş yapın.
why-idle = Cihaz etkin olmadığı için oturumunuz sona erdi. Devam etmek için yeniden giriş yapın.
why-operator = Oturumunuz ağ operatörü tarafından sonlandırıldı.
why-moved = Oturumunuz cihazınızın başka bir adresine taşındı (aynı kupon yeni bir adresten yeniden giriş yaptı). Burada devam etmek için yeniden giriş yapın.

login-title = { $venue } ağına giriş yap
welcome = { $venue } ağına hoş geldiniz
default-terms = Bağlanarak bu ağı yasalara uygun ve özenli biçimde kullanmayı kabul edersiniz. Operatör cihazınızın donanım adresini ve oturumunuzun zamanını kaydedebilir ve oturumları istediği zaman sonlandırabilir.
terms-heading = Kullanım koşulları
username = Kullanıcı adı
password = Parola
voucher-code = Kupon kodu
accept-connect = Kabul et ve bağlan
login-expired = Bu sayfanın süresi dolmuştu. Lütfen yeniden deneyin.
login-device-limit = Bu hesap izin verilen sayıda cihazda zaten oturum açmış durumda.
login-invalid-voucher = Geçersiz kupon kodu.
login-invalid-credentials = Geçersiz kullanıcı adı veya parola.

status-title = Oturum durumu
online-title = Çevrimiçisiniz
online-text = Cihazınız ({ $mac }) { $venue } ağına giriş yaptı.
time-left = Kalan süre:
data-left = Kalan veri:
randomized-note = Cihazınız bu ağda özel (rastgele) bir adres kullanıyor. Ağdan çıkıp yeniden katılırsanız yeni bir adres kullanabilir ve yeniden giriş yapmanızı isteyebilir.
log-out = Çıkış yap
not-signed-in-title = Giriş yapılmadı
not-signed-in-text = Cihazınız { $venue } ağına giriş yapmadı.
signed-out-title = Çıkış yapıldı
signed-out-text = Cihazınız artık { $venue } ağına giriş yapmış değil.
sign-in-again = Yeniden giriş yap

error-not-on-lan-title = Cihaz tanınmadı
error-not-on-lan = Bu sayfa yalnızca misafir ağına bağlı bir cihazdan kullanılabilir. Bağlıysanız ağa yeniden bağlanıp tekrar deneyin.
error-ambiguous-title = Lütfen yeniden deneyin
error-ambiguous = Bu isteğin hangi cihazdan geldiğini belirleyemedik. Lütfen yeniden deneyin.
error-forged-title = Sayfanın süresi doldu
error-forged = Bu formun süresi doldu veya bu ağın giriş sayfasından gönderilmedi. Lütfen geri dönün, sayfayı yenileyin ve yeniden deneyin.
error-not-accepted-title = Koşullar kabul edilmedi
error-not-accepted = Bağlanmak için lütfen geri dönüp kullanım koşullarını kabul edin.
error-full-title = Ağ dolu
error-full = Ağ şu anda daha fazla cihaz kabul edemiyor. Lütfen daha sonra yeniden deneyin.
error-auth-unavailable-title = Giriş kullanılamıyor
error-auth-unavailable = Giriş hizmeti şu anda yanıt vermiyor. Lütfen bir dakika sonra yeniden deneyin.
error-internal-title = Bir şeyler ters gitti
error-internal = Lütfen yeniden deneyin.
error-end-not-recorded-title = Çıkış yapıldı
error-end-not-recorded = Cihazınızın çıkışı yapıldı, ancak ağ bunu henüz kaydedemedi.
error-store-title = Giriş kullanılamıyor
error-store = Ağ şu anda girişleri kaydedemiyor. Lütfen bir dakika sonra yeniden deneyin.
error-session-title = Bir şeyler ters gitti
error-session = Cihazınız için giriş yapılamadı. Lütfen yeniden deneyin.
error-grant-refused-title = Giriş reddedildi
error-grant-refused = Giriş doğrulanamadı: değiştirilmiş, süresi dolmuş, zaten kullanılmış veya başka bir cihaz için verilmiş. Lütfen yeniden başlayın.
error-not-found-title = Bulunamadı
error-not-found = Bu portalda böyle bir sayfa yok.
